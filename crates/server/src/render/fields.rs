//! QRadar-style field selection: `id,city(name,geo_id),subdivisions(iso_code)`.
//!
//! A selection is parsed once, checked against the endpoint's schema (so an unknown field is
//! an error even when this particular answer happens to omit it), then applied to any JSON
//! value: objects keep the named members, arrays apply the selection to each element.

use serde_json::Value;

/// One selected field and, when it names sub-fields, their selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub sub: Option<Vec<Field>>,
}

/// What an endpoint can return: each field's JSON type, with the fields below it for objects.
/// The same table validates `fields` selections and types the OpenAPI document.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    pub kind: Kind,
    pub fields: &'static [(&'static str, Schema)],
}

/// A field's JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Object,
    /// An array of objects with `fields`.
    List,
    Str,
    Int,
    Num,
    Bool,
    /// An array of numbers (GeoJSON coordinates).
    Nums,
    /// An array of strings.
    Strs,
}

impl Schema {
    pub const STR: Schema = Schema::leaf(Kind::Str);
    pub const INT: Schema = Schema::leaf(Kind::Int);
    pub const NUM: Schema = Schema::leaf(Kind::Num);
    pub const BOOL: Schema = Schema::leaf(Kind::Bool);
    pub const NUMS: Schema = Schema::leaf(Kind::Nums);
    pub const STRS: Schema = Schema::leaf(Kind::Strs);

    const fn leaf(kind: Kind) -> Schema {
        Schema { kind, fields: &[] }
    }

    pub const fn obj(fields: &'static [(&'static str, Schema)]) -> Schema {
        Schema {
            kind: Kind::Object,
            fields,
        }
    }

    pub const fn list(fields: &'static [(&'static str, Schema)]) -> Schema {
        Schema {
            kind: Kind::List,
            fields,
        }
    }

    fn get(&self, name: &str) -> Option<&Schema> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, s)| s)
    }
}

/// Longest selection accepted, and how deep parentheses may nest.
pub const MAX_LEN: usize = 4096;
pub const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fields: {message} (at character {position})")]
pub struct FieldsError {
    pub position: usize,
    pub message: String,
}

fn error(position: usize, message: impl Into<String>) -> FieldsError {
    FieldsError {
        position,
        message: message.into(),
    }
}

/// Parse a selection. Whitespace around names and separators is allowed.
pub fn parse(text: &str) -> Result<Vec<Field>, FieldsError> {
    if text.len() > MAX_LEN {
        return Err(error(MAX_LEN, format!("longer than {MAX_LEN} characters")));
    }
    let bytes = text.as_bytes();
    let mut pos = 0;
    let fields = parse_list(bytes, &mut pos, 0)?;
    skip_space(bytes, &mut pos);
    if pos != bytes.len() {
        return Err(error(pos, format!("unexpected {:?}", bytes[pos] as char)));
    }
    Ok(fields)
}

fn skip_space(bytes: &[u8], pos: &mut usize) {
    while *pos < bytes.len() && bytes[*pos].is_ascii_whitespace() {
        *pos += 1;
    }
}

fn parse_list(bytes: &[u8], pos: &mut usize, depth: usize) -> Result<Vec<Field>, FieldsError> {
    if depth > MAX_DEPTH {
        return Err(error(*pos, format!("nested deeper than {MAX_DEPTH}")));
    }
    let mut fields = Vec::new();
    loop {
        skip_space(bytes, pos);
        let start = *pos;
        while *pos < bytes.len() && (bytes[*pos].is_ascii_alphanumeric() || bytes[*pos] == b'_') {
            *pos += 1;
        }
        if start == *pos {
            return Err(error(*pos, "expected a field name"));
        }
        let name = std::str::from_utf8(&bytes[start..*pos])
            .expect("ASCII")
            .to_owned();
        skip_space(bytes, pos);
        let sub = if *pos < bytes.len() && bytes[*pos] == b'(' {
            *pos += 1;
            let sub = parse_list(bytes, pos, depth + 1)?;
            skip_space(bytes, pos);
            if *pos >= bytes.len() || bytes[*pos] != b')' {
                return Err(error(*pos, "expected ')'"));
            }
            *pos += 1;
            skip_space(bytes, pos);
            Some(sub)
        } else {
            None
        };
        if fields.iter().any(|f: &Field| f.name == name) {
            return Err(error(start, format!("{name} is named twice")));
        }
        fields.push(Field { name, sub });
        if *pos < bytes.len() && bytes[*pos] == b',' {
            *pos += 1;
            continue;
        }
        return Ok(fields);
    }
}

/// Check every named field against the schema.
pub fn validate(fields: &[Field], schema: &Schema) -> Result<(), FieldsError> {
    for field in fields {
        let Some(below) = schema.get(&field.name) else {
            return Err(error(0, format!("unknown field {:?}", field.name)));
        };
        if let Some(sub) = &field.sub {
            if below.fields.is_empty() {
                return Err(error(0, format!("{:?} has no sub-fields", field.name)));
            }
            validate(sub, below)?;
        }
    }
    Ok(())
}

/// Keep only the selected fields of `value`.
pub fn apply(value: &mut Value, fields: &[Field]) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|item| apply(item, fields)),
        Value::Object(map) => {
            map.retain(|key, _| fields.iter().any(|f| f.name == *key));
            for field in fields {
                if let (Some(sub), Some(child)) = (&field.sub, map.get_mut(&field.name)) {
                    apply(child, sub);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: Schema = Schema::obj(&[
        ("id", Schema::INT),
        (
            "city",
            Schema::obj(&[("name", Schema::STR), ("geo_id", Schema::INT)]),
        ),
        (
            "subdivisions",
            Schema::obj(&[("iso_code", Schema::STR), ("name", Schema::STR)]),
        ),
    ]);

    #[test]
    fn parses_nested_selections_with_spaces() {
        let f = parse(" id , city( name,geo_id ) ,subdivisions(iso_code)").unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(f[1].sub.as_ref().unwrap()[1].name, "geo_id");
        validate(&f, &SCHEMA).unwrap();
    }

    #[test]
    fn rejects_malformed_and_unknown() {
        for bad in [
            "",
            ",",
            "id,",
            "city(",
            "city()",
            "city(name",
            "id)",
            "id id",
            "a-b",
            "id,id",
            "city(name)x",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(validate(&parse("nope").unwrap(), &SCHEMA).is_err());
        assert!(validate(&parse("id(x)").unwrap(), &SCHEMA).is_err());
        assert!(validate(&parse("city(zip)").unwrap(), &SCHEMA).is_err());
        let deep = format!("city{}name{}", "(".repeat(40), ")".repeat(40));
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn applies_to_objects_and_arrays() {
        let mut v = serde_json::json!([
            {"id": 1, "city": {"name": "A", "geo_id": 2}, "subdivisions": [{"iso_code": "X", "name": "Y"}]},
            {"id": 3, "other": true}
        ]);
        apply(&mut v, &parse("city(name),subdivisions(iso_code)").unwrap());
        assert_eq!(
            v,
            serde_json::json!([{"city": {"name": "A"}, "subdivisions": [{"iso_code": "X"}]}, {}])
        );
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
            if let Ok(selection) = parse(&text) {
                let _ = validate(&selection, &Schema::STR);
            }
        }

        #[test]
        fn bracket_soup_never_panics(parts in prop::collection::vec(prop_oneof![
            Just("a"), Just("b_1"), Just("("), Just(")"), Just(","), Just(" "), Just("-"),
        ], 0..60)) {
            let text = parts.concat();
            if let Ok(selection) = parse(&text) {
                let mut value = serde_json::json!([{"a": {"b_1": 1}, "c": 2}]);
                apply(&mut value, &selection);
            }
        }
    }
}

//! The OpenAPI 3.1 document at `/openapi.json`, assembled from what each dialect declares
//! beside its routes (`operations()`), with response schemas taken from the same static
//! field schemas that validate `fields`. A test requests every documented operation to check
//! that it is routed.

use serde_json::{json, Map, Value};

use crate::render::fields::{Kind, Schema};

/// Where a parameter travels.
#[derive(Debug, Clone, Copy)]
pub enum In {
    Path,
    Query,
    Header,
}

/// What a parameter's value must be, as precisely as JSON Schema can say it (a tool that
/// generates valid values from the document gets answers, not 400s).
#[derive(Debug, Clone, Copy)]
pub enum ParamType {
    /// Any non-empty text; the operation explains the rest.
    Text,
    /// Any text, empty included (a header sent empty is the same as none).
    AnyText,
    /// An IPv4 or IPv6 address.
    Ip,
    /// An address or `me` (MaxMind).
    IpOrMe,
    /// A positive integer id.
    Id,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// A name matching a regular expression, none of the listed words.
    Pattern(&'static str, &'static [&'static str]),
}

impl ParamType {
    fn schema(self) -> Value {
        match self {
            ParamType::Text => json!({"type": "string", "minLength": 1}),
            ParamType::AnyText => json!({"type": "string"}),
            ParamType::Ip => ip_schema(),
            ParamType::IpOrMe => {
                json!({"anyOf": [ip_schema(), {"type": "string", "const": "me"}]})
            }
            ParamType::Id => json!({"type": "integer", "minimum": 1, "maximum": i64::MAX}),
            ParamType::OneOf(words) => json!({"type": "string", "enum": words}),
            ParamType::Pattern(pattern, not) => {
                json!({"type": "string", "pattern": pattern, "not": {"enum": not}})
            }
        }
    }
}

fn ip_schema() -> Value {
    json!({"anyOf": [
        {"type": "string", "format": "ipv4"},
        {"type": "string", "format": "ipv6"},
    ]})
}

#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub location: In,
    pub required: bool,
    pub description: &'static str,
    /// A value the routing test uses.
    pub example: &'static str,
    pub kind: ParamType,
}

/// A dialect's error body: its media type and JSON Schema.
#[derive(Debug, Clone, Copy)]
pub struct ErrorBody {
    pub content_type: &'static str,
    pub schema: fn() -> Value,
    /// Other media types an error may come in (the request's `format`), as text.
    pub also: &'static [&'static str],
}

/// The plain-text body of endpoints outside the dialects.
pub const TEXT_ERROR: ErrorBody = ErrorBody {
    content_type: "text/plain",
    schema: || json!({"type": "string"}),
    also: &[],
};

/// A JSON request body: what it holds, in words and as JSON Schema.
#[derive(Debug, Clone, Copy)]
pub struct RequestBody {
    pub description: &'static str,
    pub schema: fn() -> Value,
}

/// One documented operation.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    /// Security schemes, any one of which admits the caller (alternatives); empty: none.
    pub security: &'static [&'static str],
    pub params: Vec<Param>,
    /// (status, description). 2xx answers carry `schema`; the rest the dialect's error body.
    pub responses: Vec<(u16, &'static str)>,
    /// Schema of a success's object (or of each element when `array`).
    pub schema: Option<(Schema, bool)>,
    pub content_type: &'static str,
    /// Other media types a success may come in (`format=xml|csv`), as text.
    pub also: &'static [&'static str],
    pub error: ErrorBody,
    pub body: Option<RequestBody>,
}

/// JSON Schema for a field table. Objects list their properties without `required` (a
/// field the data lacks is left out) and admit nothing else.
pub fn schema_json(schema: &Schema) -> Value {
    let properties = || {
        let mut properties = Map::new();
        for (name, below) in schema.fields {
            properties.insert((*name).to_owned(), schema_json(below));
        }
        Value::Object(properties)
    };
    match schema.kind {
        Kind::Object if schema.fields.is_empty() => json!({"type": "object"}),
        Kind::Object => {
            json!({"type": "object", "properties": properties(), "additionalProperties": false})
        }
        Kind::List => json!({"type": "array", "items": {
            "type": "object", "properties": properties(), "additionalProperties": false,
        }}),
        Kind::Str => json!({"type": "string"}),
        Kind::Int => json!({"type": "integer"}),
        Kind::Num => json!({"type": "number"}),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::Nums => json!({"type": "array", "items": {"type": "number"}}),
        Kind::Strs => json!({"type": "array", "items": {"type": "string"}}),
    }
}

/// The whole document.
pub fn document(operations: &[Operation]) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for op in operations {
        let params: Vec<Value> = op
            .params
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "in": match p.location { In::Path => "path", In::Query => "query", In::Header => "header" },
                    "required": p.required,
                    "description": p.description,
                    "schema": p.kind.schema(),
                    "example": p.example,
                })
            })
            .collect();
        let mut responses = Map::new();
        for (status, description) in &op.responses {
            let mut response = json!({"description": description});
            if *status == 204 {
                // No body, so no media type.
                responses.insert(status.to_string(), response);
                continue;
            }
            if (200..300).contains(status) {
                let schema = match &op.schema {
                    Some((schema, true)) => json!({"type": "array", "items": schema_json(schema)}),
                    Some((schema, false)) => schema_json(schema),
                    None if op.content_type.starts_with("text/") => json!({"type": "string"}),
                    None => json!({"type": "object"}),
                };
                let mut content = Map::new();
                content.insert(op.content_type.to_owned(), json!({"schema": schema}));
                for other in op.also {
                    content.insert((*other).to_owned(), json!({"schema": {"type": "string"}}));
                }
                response["content"] = Value::Object(content);
            } else {
                let mut content = Map::new();
                content.insert(
                    op.error.content_type.to_owned(),
                    json!({"schema": (op.error.schema)()}),
                );
                for other in op.error.also {
                    content.insert((*other).to_owned(), json!({"schema": {"type": "string"}}));
                }
                response["content"] = Value::Object(content);
            }
            responses.insert(status.to_string(), response);
        }
        let mut operation = json!({
            "tags": [op.tag],
            "summary": op.summary,
            "parameters": params,
            "responses": responses,
        });
        if !op.security.is_empty() {
            let alternatives: Vec<Value> = op.security.iter().map(|s| json!({ *s: [] })).collect();
            operation["security"] = Value::Array(alternatives);
        } else {
            operation["security"] = json!([]);
        }
        if let Some(body) = &op.body {
            operation["requestBody"] = json!({"required": true, "description": body.description, "content": {"application/json": {"schema": (body.schema)()}}});
        }
        paths
            .entry(op.path.to_owned())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("object")
            .insert(op.method.to_ascii_lowercase(), operation);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "ipintel",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Self-hosted IP intelligence: MaxMind GeoIP2, DB-IP v2, QRadar geolocations and ipintel's own API over your own MMDB databases, and the RIPE Database REST API over your own RPSL registry. Where an operation lists several security schemes, any one of them admits the caller.",
        },
        "paths": paths,
        "components": {"securitySchemes": {
            "basic": {"type": "http", "scheme": "basic", "description": "MaxMind: account id : key. QRadar: any user name : key."},
            "qradarSec": {"type": "apiKey", "in": "header", "name": "SEC", "description": "the key"},
            "bearer": {"type": "http", "scheme": "bearer", "description": "the key"},
            "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "the key"},
            "adminBearer": {"type": "http", "scheme": "bearer", "description": "admin.token"},
        }},
    })
}

//! QRadar's `filter` grammar, parsed whole so any endpoint can reuse it and each endpoint
//! rejects what it does not support.
//!
//! ```text
//! filter     := or
//! or         := and (OR and)*
//! and        := unary (AND unary)*
//! unary      := NOT unary | '(' filter ')' | predicate
//! predicate  := field op value
//!             | field [NOT] IN '(' value (',' value)* ')'
//!             | field [NOT] BETWEEN value AND value
//!             | field IS [NOT] NULL
//!             | field [NOT] (LIKE | ILIKE) value
//! op         := = | != | <> | ^= | < | <= | > | >=
//! field      := name ('.' name)* | "quoted name"
//! value      := "string" | number | bare word (enum values such as OPEN)
//! ```
//! Keywords are case-insensitive. Strings use `"` with `\"` and `\\` escapes.

use std::fmt;

/// Longest filter accepted, and how deep parentheses and NOTs may nest.
pub const MAX_LEN: usize = 16 * 1024;
pub const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Number(f64),
    Word(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Number(n) => write!(f, "{n}"),
            Value::Word(w) => f.write_str(w),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Compare {
        field: String,
        op: Op,
        value: Value,
    },
    In {
        field: String,
        negated: bool,
        values: Vec<Value>,
    },
    Between {
        field: String,
        negated: bool,
        low: Value,
        high: Value,
    },
    IsNull {
        field: String,
        negated: bool,
    },
    Like {
        field: String,
        negated: bool,
        case_insensitive: bool,
        pattern: Value,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter: {message} (at character {position})")]
pub struct FilterError {
    pub position: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Number(f64),
    Op(Op),
    Open,
    Close,
    Comma,
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, FilterError> {
    let err = |position, message: &str| FilterError {
        position,
        message: message.to_owned(),
    };
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push((pos, Token::Open));
                i += 1
            }
            ')' => {
                tokens.push((pos, Token::Close));
                i += 1
            }
            ',' => {
                tokens.push((pos, Token::Comma));
                i += 1
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&(_, c)) = chars.get(i) else {
                        return Err(err(pos, "unterminated string"));
                    };
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let Some(&(_, next)) = chars.get(i) else {
                                return Err(err(pos, "unterminated string"));
                            };
                            s.push(next);
                            i += 1;
                        }
                        c => s.push(c),
                    }
                }
                tokens.push((pos, Token::Quoted(s)));
            }
            '=' | '!' | '<' | '>' | '^' => {
                let next = chars.get(i + 1).map(|&(_, c)| c);
                let (op, len) = match (c, next) {
                    ('=', _) => (Op::Eq, 1),
                    ('!', Some('=')) | ('^', Some('=')) => (Op::Ne, 2),
                    ('<', Some('>')) => (Op::Ne, 2),
                    ('<', Some('=')) => (Op::Le, 2),
                    ('>', Some('=')) => (Op::Ge, 2),
                    ('<', _) => (Op::Lt, 1),
                    ('>', _) => (Op::Gt, 1),
                    _ => return Err(err(pos, "unknown operator")),
                };
                tokens.push((pos, Token::Op(op)));
                i += len;
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(|&(_, d)| d.is_ascii_digit())) =>
            {
                let start = i;
                i += 1;
                while chars
                    .get(i)
                    .is_some_and(|&(_, d)| d.is_ascii_digit() || d == '.')
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().map(|&(_, c)| c).collect();
                // A number running into letters (e.g. an unquoted address) is a word.
                if chars
                    .get(i)
                    .is_some_and(|&(_, d)| d.is_alphanumeric() || d == '_' || d == ':')
                {
                    return Err(err(pos, "values that are not numbers must be quoted"));
                }
                let n = text.parse::<f64>().map_err(|_| err(pos, "bad number"))?;
                tokens.push((pos, Token::Number(n)));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|&(_, d)| d.is_alphanumeric() || d == '_' || d == '.')
                {
                    i += 1;
                }
                tokens.push((
                    pos,
                    Token::Word(chars[start..i].iter().map(|&(_, c)| c).collect()),
                ));
            }
            _ => return Err(err(pos, &format!("unexpected {c:?}"))),
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    end: usize,
}

impl Parser {
    fn position(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |(p, _)| *p)
    }

    fn error(&self, message: impl Into<String>) -> FilterError {
        FilterError {
            position: self.position(),
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn eat_keyword(&mut self, word: &str) -> bool {
        let found = self.keyword(word);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<(), FilterError> {
        if self.peek() == Some(&token) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(format!("expected {what}")))
        }
    }

    fn or(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut parts = vec![self.and(depth)?];
        while self.eat_keyword("or") {
            parts.push(self.and(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().expect("one")
        } else {
            Filter::Or(parts)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut parts = vec![self.unary(depth)?];
        while self.eat_keyword("and") {
            parts.push(self.unary(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().expect("one")
        } else {
            Filter::And(parts)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Filter, FilterError> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!("nested deeper than {MAX_DEPTH}")));
        }
        if self.eat_keyword("not") {
            return Ok(Filter::Not(Box::new(self.unary(depth + 1)?)));
        }
        if self.peek() == Some(&Token::Open) {
            self.at += 1;
            let inner = self.or(depth + 1)?;
            self.expect(Token::Close, "')'")?;
            return Ok(inner);
        }
        self.predicate()
    }

    fn field(&mut self) -> Result<String, FilterError> {
        match self.peek().cloned() {
            Some(Token::Word(w)) if !is_keyword(&w) => {
                self.at += 1;
                Ok(w)
            }
            Some(Token::Quoted(q)) if !q.is_empty() => {
                self.at += 1;
                Ok(q)
            }
            _ => Err(self.error("expected a field name")),
        }
    }

    fn value(&mut self) -> Result<Value, FilterError> {
        let value = match self.peek().cloned() {
            Some(Token::Quoted(s)) => Value::Str(s),
            Some(Token::Number(n)) => Value::Number(n),
            Some(Token::Word(w)) if !is_keyword(&w) => Value::Word(w),
            _ => return Err(self.error("expected a value")),
        };
        self.at += 1;
        Ok(value)
    }

    fn predicate(&mut self) -> Result<Filter, FilterError> {
        let field = self.field()?;
        if let Some(Token::Op(op)) = self.peek().cloned() {
            self.at += 1;
            let value = self.value()?;
            return Ok(Filter::Compare { field, op, value });
        }
        if self.eat_keyword("is") {
            let negated = self.eat_keyword("not");
            if !self.eat_keyword("null") {
                return Err(self.error("expected NULL"));
            }
            return Ok(Filter::IsNull { field, negated });
        }
        let negated = self.eat_keyword("not");
        if self.eat_keyword("in") {
            self.expect(Token::Open, "'(' after IN")?;
            let mut values = vec![self.value()?];
            while self.peek() == Some(&Token::Comma) {
                self.at += 1;
                values.push(self.value()?);
            }
            self.expect(Token::Close, "')' closing IN")?;
            return Ok(Filter::In {
                field,
                negated,
                values,
            });
        }
        if self.eat_keyword("between") {
            let low = self.value()?;
            if !self.eat_keyword("and") {
                return Err(self.error("expected AND in BETWEEN"));
            }
            let high = self.value()?;
            return Ok(Filter::Between {
                field,
                negated,
                low,
                high,
            });
        }
        let case_insensitive = self.keyword("ilike");
        if self.eat_keyword("like") || self.eat_keyword("ilike") {
            let pattern = self.value()?;
            return Ok(Filter::Like {
                field,
                negated,
                case_insensitive,
                pattern,
            });
        }
        Err(self.error("expected an operator, IN, BETWEEN, IS or LIKE"))
    }
}

fn is_keyword(word: &str) -> bool {
    [
        "and", "or", "not", "in", "between", "is", "null", "like", "ilike",
    ]
    .iter()
    .any(|k| k.eq_ignore_ascii_case(word))
}

/// Parse a whole filter.
pub fn parse(text: &str) -> Result<Filter, FilterError> {
    if text.len() > MAX_LEN {
        return Err(FilterError {
            position: MAX_LEN,
            message: format!("longer than {MAX_LEN} characters"),
        });
    }
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err(FilterError {
            position: 0,
            message: "empty filter".into(),
        });
    }
    let mut parser = Parser {
        tokens,
        at: 0,
        end: text.len(),
    };
    let filter = parser.or(0)?;
    if parser.at != parser.tokens.len() {
        return Err(parser.error("unexpected text after the filter"));
    }
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    #[test]
    fn the_geolocation_forms() {
        assert_eq!(
            parse(r#"ip_address = "127.0.0.1""#).unwrap(),
            Filter::Compare {
                field: "ip_address".into(),
                op: Op::Eq,
                value: s("127.0.0.1")
            }
        );
        assert_eq!(
            parse(r#"ip_address IN ( "127.0.0.1", "::1" )"#).unwrap(),
            Filter::In {
                field: "ip_address".into(),
                negated: false,
                values: vec![s("127.0.0.1"), s("::1")]
            }
        );
        assert_eq!(
            parse(r#""ip_address" in ("1.2.3.4")"#).unwrap(),
            Filter::In {
                field: "ip_address".into(),
                negated: false,
                values: vec![s("1.2.3.4")]
            }
        );
    }

    #[test]
    fn the_rest_of_the_grammar() {
        let f = parse(r#"(role=regular) or (role=monitor) and not name ilike "%risk%""#).unwrap();
        let Filter::Or(parts) = f else {
            panic!("or at the top")
        };
        assert_eq!(parts.len(), 2);
        assert!(matches!(&parts[1], Filter::And(a) if matches!(a[1], Filter::Not(_))));
        assert!(matches!(
            parse("id between 1 and 10").unwrap(),
            Filter::Between { negated: false, .. }
        ));
        assert!(matches!(
            parse("id not between 1 and 10").unwrap(),
            Filter::Between { negated: true, .. }
        ));
        assert!(matches!(
            parse("a.b is not null").unwrap(),
            Filter::IsNull { negated: true, .. }
        ));
        assert!(matches!(
            parse("x not in (1, 2)").unwrap(),
            Filter::In { negated: true, .. }
        ));
        assert!(matches!(
            parse("x <> 3").unwrap(),
            Filter::Compare { op: Op::Ne, .. }
        ));
        assert!(matches!(
            parse("x ^= 3").unwrap(),
            Filter::Compare { op: Op::Ne, .. }
        ));
        assert!(
            matches!(parse("x >= -3.5").unwrap(), Filter::Compare { op: Op::Ge, value: Value::Number(n), .. } if n == -3.5)
        );
        assert!(
            matches!(parse(r#"x = "say \"hi\"""#).unwrap(), Filter::Compare { value: Value::Str(v), .. } if v == "say \"hi\"")
        );
        assert!(matches!(
            parse("status=OPEN").unwrap(),
            Filter::Compare {
                value: Value::Word(_),
                ..
            }
        ));
    }

    #[test]
    fn errors_say_where() {
        for (bad, at) in [
            ("", 0),
            ("ip_address =", 12),
            (r#"ip_address = "x"#, 13),
            ("ip_address IN (", 15),
            ("ip_address IN ()", 15),
            ("ip_address IN (1,)", 17),
            ("ip_address = 1.2.3.4", 13),
            ("(a = 1", 6),
            ("a = 1)", 5),
            ("a = 1 b = 2", 6),
            ("a between 1 or 2", 12),
            ("a is nul", 5),
            ("and = 1", 0),
            ("a ~ 1", 2),
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.position, at, "{bad:?}: {e}");
        }
        let deep = format!("{}a=1{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep).unwrap_err().message.contains("deeper"));
        let nots = format!("{}a=1", "not ".repeat(100));
        assert!(parse(&nots).is_err());
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    /// Print a filter back in the grammar (for round trips).
    fn print(f: &Filter) -> String {
        let value = |v: &Value| match v {
            Value::Str(s) => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
            Value::Number(n) => format!("{n}"),
            Value::Word(w) => w.clone(),
        };
        let op = |o: &Op| match o {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        };
        let not = |n: bool| if n { "NOT " } else { "" };
        match f {
            Filter::And(parts) => parts
                .iter()
                .map(|p| format!("({})", print(p)))
                .collect::<Vec<_>>()
                .join(" AND "),
            Filter::Or(parts) => parts
                .iter()
                .map(|p| format!("({})", print(p)))
                .collect::<Vec<_>>()
                .join(" OR "),
            Filter::Not(inner) => format!("NOT ({})", print(inner)),
            Filter::Compare {
                field,
                op: o,
                value: v,
            } => format!("{field} {} {}", op(o), value(v)),
            Filter::In {
                field,
                negated,
                values,
            } => {
                format!(
                    "{field} {}IN ({})",
                    not(*negated),
                    values.iter().map(value).collect::<Vec<_>>().join(", ")
                )
            }
            Filter::Between {
                field,
                negated,
                low,
                high,
            } => format!(
                "{field} {}BETWEEN {} AND {}",
                not(*negated),
                value(low),
                value(high)
            ),
            Filter::IsNull { field, negated } => format!("{field} IS {}NULL", not(*negated)),
            Filter::Like {
                field,
                negated,
                case_insensitive,
                pattern,
            } => {
                format!(
                    "{field} {}{} {}",
                    not(*negated),
                    if *case_insensitive { "ILIKE" } else { "LIKE" },
                    value(pattern)
                )
            }
        }
    }

    fn field() -> impl Strategy<Value = String> {
        "[a-z_][a-z0-9_]{0,8}(\\.[a-z_][a-z0-9_]{0,5})?"
            .prop_filter("not a keyword", |f| !is_keyword(f))
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            "[ -~]{0,12}".prop_map(Value::Str),
            (-1000i32..1000).prop_map(|n| Value::Number(f64::from(n))),
            "[A-Z][A-Z_]{0,6}"
                .prop_filter("not a keyword", |w| !is_keyword(w))
                .prop_map(Value::Word),
        ]
    }

    fn leaf() -> impl Strategy<Value = Filter> {
        let op = prop_oneof![
            Just(Op::Eq),
            Just(Op::Ne),
            Just(Op::Lt),
            Just(Op::Le),
            Just(Op::Gt),
            Just(Op::Ge)
        ];
        prop_oneof![
            (field(), op, value()).prop_map(|(field, op, value)| Filter::Compare {
                field,
                op,
                value
            }),
            (field(), any::<bool>(), prop::collection::vec(value(), 1..4)).prop_map(
                |(field, negated, values)| Filter::In {
                    field,
                    negated,
                    values
                }
            ),
            (field(), any::<bool>(), value(), value()).prop_map(|(field, negated, low, high)| {
                Filter::Between {
                    field,
                    negated,
                    low,
                    high,
                }
            }),
            (field(), any::<bool>()).prop_map(|(field, negated)| Filter::IsNull { field, negated }),
            (field(), any::<bool>(), any::<bool>(), value()).prop_map(
                |(field, negated, case_insensitive, pattern)| Filter::Like {
                    field,
                    negated,
                    case_insensitive,
                    pattern
                }
            ),
        ]
    }

    fn tree() -> impl Strategy<Value = Filter> {
        leaf().prop_recursive(4, 24, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4).prop_map(Filter::And),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Filter::Or),
                inner.prop_map(|f| Filter::Not(Box::new(f))),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Any text: an answer or an error, never a panic.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
            let _ = parse(&text);
        }

        /// Text made of the grammar's own pieces, shuffled: still never a panic.
        #[test]
        fn grammar_soup_never_panics(parts in prop::collection::vec(prop_oneof![
            Just("ip_address"), Just("="), Just("IN"), Just("("), Just(")"), Just(","), Just("\"1.2.3.4\""),
            Just("NOT"), Just("AND"), Just("OR"), Just("BETWEEN"), Just("IS"), Just("NULL"), Just("LIKE"),
            Just("42"), Just("-"), Just("\""), Just("\\"), Just("<="), Just("^="),
        ], 0..30)) {
            let _ = parse(&parts.join(" "));
        }

        /// What the printer writes, the parser reads back as the same filter.
        #[test]
        fn printed_filters_round_trip(f in tree()) {
            let text = print(&f);
            let back = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(print(&back), text);
        }
    }
}

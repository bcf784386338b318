//! The OpenAPI 3.1 document at `/openapi.json`, assembled from what each dialect declares
//! beside its routes (`operations()`), with response schemas taken from the same static
//! field schemas that validate `fields`. A test requests every documented operation to check
//! that it is routed.

use serde_json::{json, Map, Value};

use crate::render::fields::Schema;

/// Where a parameter travels.
#[derive(Debug, Clone, Copy)]
pub enum In {
    Path,
    Query,
    Header,
}

#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub location: In,
    pub required: bool,
    pub description: &'static str,
    /// A value the routing test uses.
    pub example: &'static str,
}

/// One documented operation.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub security: &'static str,
    pub params: Vec<Param>,
    /// (status, description).
    pub responses: Vec<(u16, &'static str)>,
    /// Schema of a 200 answer's object (or of each element when `array`).
    pub schema: Option<(Schema, bool)>,
    pub content_type: &'static str,
    /// A JSON request body, described.
    pub body: Option<&'static str>,
}

fn schema_json(schema: &Schema) -> Value {
    if schema.0.is_empty() {
        return json!({});
    }
    let mut properties = Map::new();
    for (name, below) in schema.0 {
        properties.insert((*name).to_owned(), schema_json(below));
    }
    json!({"type": "object", "properties": properties})
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
                    "schema": {"type": "string"},
                    "example": p.example,
                })
            })
            .collect();
        let mut responses = Map::new();
        for (status, description) in &op.responses {
            let mut response = json!({"description": description});
            if *status == 200 {
                let schema = match &op.schema {
                    Some((schema, true)) => json!({"type": "array", "items": schema_json(schema)}),
                    Some((schema, false)) => schema_json(schema),
                    None => json!({"type": "object"}),
                };
                response["content"] = json!({ op.content_type: {"schema": schema} });
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
            operation["security"] = json!([{ op.security: [] }]);
        }
        if let Some(body) = op.body {
            operation["requestBody"] = json!({"required": true, "description": body, "content": {"application/json": {"schema": {"type": "object"}}}});
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
            "description": "Self-hosted IP intelligence: MaxMind GeoIP2, DB-IP v2, QRadar geolocations and ipintel's own API over your own MMDB databases.",
        },
        "paths": paths,
        "components": {"securitySchemes": {
            "maxmindBasic": {"type": "http", "scheme": "basic", "description": "account id : key"},
            "qradarSec": {"type": "apiKey", "in": "header", "name": "SEC"},
            "bearer": {"type": "http", "scheme": "bearer"},
            "dbipPathKey": {"type": "apiKey", "in": "query", "name": "key", "description": "DB-IP puts the key in the path: /v2/{key}/..."},
            "adminBearer": {"type": "http", "scheme": "bearer", "description": "admin.token"},
        }},
    })
}

/// Every operation ipintel serves.
pub fn operations() -> Vec<Operation> {
    let mut all = Vec::new();
    all.extend(crate::api::maxmind::operations());
    all.extend(crate::api::dbip::operations());
    all.extend(crate::api::qradar::operations());
    all.extend(crate::api::v1::operations());
    all.extend(crate::api::whoisxml::operations());
    all.extend(super::ops::operations());
    all
}

//! The lab file's JSON Schema (`labctl schema`), made from the decoder's own shape
//! tables, and a YAML tree as the JSON an editor's YAML plugin would see.

use serde_json::{Map, Value as Json, json};

use super::decode::{plain_bool, plain_int};
use super::shape::{Field, Ty};
use super::{Node, Value};

/// Where editors look the schema up; the repository ships it beside lab.yaml.
pub const FILE_NAME: &str = "lab.schema.json";

/// The JSON Schema (draft 2020-12) of a lab file whose top level holds `root`.
pub fn schema(root: &[Field]) -> Json {
    let mut m = Map::new();
    m.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    m.insert("title".into(), json!("labctl lab file"));
    m.insert(
        "description".into(),
        json!("A teaching lab on AWS, applied by `labctl apply`."),
    );
    if let Json::Object(body) = object(root) {
        m.extend(body);
    }
    Json::Object(m)
}

fn object(fields: &[Field]) -> Json {
    let mut props = Map::new();
    for f in fields {
        let mut p = ty(&f.ty);
        if let Json::Object(m) = &mut p {
            m.insert("description".into(), json!(f.doc));
            if let Some(e) = f.example {
                m.insert("examples".into(), json!([e]));
            }
        }
        props.insert(f.key.into(), p);
    }
    let required: Vec<&str> = fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.key)
        .collect();
    let mut m = Map::new();
    m.insert("type".into(), json!("object"));
    m.insert("properties".into(), Json::Object(props));
    m.insert("additionalProperties".into(), json!(false));
    if !required.is_empty() {
        m.insert("required".into(), json!(required));
    }
    Json::Object(m)
}

/// What the decoder's `string` accepts: any scalar but null.
fn scalar() -> Json {
    json!({ "type": ["string", "number", "boolean"] })
}

fn ty(t: &Ty) -> Json {
    match t {
        Ty::Str => scalar(),
        Ty::Bool => json!({ "type": "boolean" }),
        Ty::Int => json!({ "type": "integer" }),
        Ty::OneOf(values) => json!({ "enum": values }),
        Ty::Strings => json!({
            "anyOf": [scalar(), { "type": "array", "items": scalar() }]
        }),
        Ty::Pairs => json!({
            "type": ["object", "null"],
            "additionalProperties": { "type": ["string", "number", "boolean", "null"] }
        }),
        Ty::Obj(fields) => object(fields),
        Ty::Named(inner) => json!({
            "type": ["object", "null"],
            "additionalProperties": ty(inner)
        }),
        Ty::List(inner) => json!({ "type": "array", "items": ty(inner) }),
        Ty::OrNull(inner) => json!({ "anyOf": [ty(inner), { "type": "null" }] }),
        Ty::ScalarOr(inner) => json!({ "anyOf": [scalar(), ty(inner)] }),
        Ty::Any => json!({}),
    }
}

/// The document as YAML 1.2's core schema types it: plain `true`, `12`, `1.5` and
/// `null` are a boolean, numbers and null; everything else is a string.
pub fn to_json(node: &Node) -> Json {
    match &node.value {
        Value::Scalar { text, plain: false } => Json::String(text.clone()),
        Value::Scalar { text, plain: true } => plain(text),
        Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| (k.name.clone(), to_json(v)))
                .collect(),
        ),
    }
}

/// The same readings the decoder's getters make (`decode::plain_bool`, `plain_int`).
fn plain(text: &str) -> Json {
    if super::is_null_text(text) {
        return Json::Null;
    }
    if let Some(b) = plain_bool(text) {
        return Json::Bool(b);
    }
    if let Some(n) = plain_int(text) {
        return json!(n);
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() && text.chars().any(|c| c.is_ascii_digit()) => json!(f),
        _ => Json::String(text.to_owned()),
    }
}

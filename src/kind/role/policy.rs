//! IAM policy documents: built from lab.yaml, and compared by meaning with what IAM
//! returns (URL-encoded, statements in any order, a string where we wrote a one-element
//! list), so a clean lab never shows a perpetual diff.

use serde_json::{Map, Value, json};

use super::Statement;
use crate::template::Vars;

/// The permission policy document for `statements`, minified.
pub fn document(statements: &[Statement], vars: &Vars) -> Result<String, String> {
    let mut out = Vec::new();
    for st in statements {
        let resources = st
            .resources
            .iter()
            .map(|r| vars.expand(r, true))
            .collect::<Result<Vec<_>, _>>()?;
        let mut m = Map::new();
        m.insert("Effect".into(), json!(st.effect));
        m.insert("Action".into(), json!(st.actions));
        m.insert("Resource".into(), json!(resources));
        if let Some(c) = &st.condition {
            m.insert("Condition".into(), expand_json(c, vars)?);
        }
        out.push(Value::Object(m));
    }
    Ok(json!({"Version": "2012-10-17", "Statement": out}).to_string())
}

fn expand_json(v: &Value, vars: &Vars) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => Value::String(vars.expand(s, true)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| expand_json(x, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), expand_json(x, vars)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

pub fn trust_document(services: &[String]) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": services}, "Action": "sts:AssumeRole"}]
    })
    .to_string()
}

/// IAM returns documents percent-encoded; decode before parsing.
pub fn decode(doc: &str) -> String {
    if doc.trim_start().starts_with('{') {
        return doc.to_owned();
    }
    percent_encoding::percent_decode_str(doc)
        .decode_utf8_lossy()
        .into_owned()
}

/// A canonical form: one-element lists become their element, lists of scalars are sorted,
/// statements are sorted, `Sid`-less statements compare by content.
pub fn normalize(v: &Value) -> Value {
    match v {
        Value::Array(items) => {
            let mut n: Vec<Value> = items.iter().map(normalize).collect();
            n.sort_by_key(|x| x.to_string());
            n.dedup();
            if n.len() == 1 {
                n.remove(0)
            } else {
                Value::Array(n)
            }
        }
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, x)| (k.clone(), normalize(x))).collect())
        }
        other => other.clone(),
    }
}

/// Whether two documents (either may be URL-encoded) mean the same.
pub fn same(a: &str, b: &str) -> bool {
    let parse = |d: &str| {
        serde_json::from_str::<Value>(&decode(d))
            .ok()
            .map(|v| normalize(&v))
    };
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_by_meaning() {
        let ours = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["a","b"]},{"Effect":"Allow","Action":["s3:PutObject"],"Resource":["c"]}]}"#;
        let theirs = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3APutObject%22%2C%22Resource%22%3A%22c%22%7D%2C%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3AGetObject%22%2C%22Resource%22%3A%5B%22b%22%2C%22a%22%5D%7D%5D%7D";
        assert!(same(ours, theirs));
        assert!(!same(ours, &ours.replace("PutObject", "DeleteObject")));
    }
}

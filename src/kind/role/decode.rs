//! The `role:` section.

use std::collections::BTreeMap;

use super::{ManagedRole, Role, Statement};
use crate::yaml::decode::{Decoder, fields, named, seq, string, strings};
use crate::yaml::diag::Sink;
use crate::yaml::{Node, Value};

pub(super) fn role(node: &Node, d: &mut Decoder) -> Option<Role> {
    let s = &mut d.sink;
    let f = fields(
        node,
        "`role`",
        &[
            "existing",
            "name",
            "trust",
            "managed_policies",
            "policies",
            "tags",
        ],
        s,
    )?;
    if let Some(existing) = f.get("existing") {
        if let Some((k, _)) = f
            .entries
            .iter()
            .find(|(k, v)| k.name != "existing" && !v.is_null())
        {
            s.err(k.pos, format!("`{}` cannot be combined with `existing`", k.name), "an existing role is used as it is: remove this key, or remove `existing` to have labctl create the role");
        }
        return string(existing, "`existing`", s).map(|name| Role::Existing {
            pos: existing.pos,
            name,
        });
    }
    let name = f
        .required("name", "`role`", s)
        .and_then(|n| string(n, "the role `name`", s))
        .unwrap_or_default();
    let trust = f
        .get("trust")
        .map(|n| {
            strings(n, "`trust`", s)
                .into_iter()
                .map(|(v, _)| v)
                .collect()
        })
        .unwrap_or_else(|| vec!["lambda.amazonaws.com".to_owned()]);
    let managed_policies = f
        .get("managed_policies")
        .map(|n| {
            strings(n, "`managed_policies`", s)
                .into_iter()
                .map(|(v, _)| v)
                .collect()
        })
        .unwrap_or_default();
    let mut policies = BTreeMap::new();
    if let Some(n) = f.get("policies") {
        for (k, v) in named(n, "`policies`", s) {
            let stmts = seq(v, &format!("policy `{}`", k.name), s)
                .iter()
                .filter_map(|st| statement(st, s))
                .collect();
            policies.insert(k.name.clone(), stmts);
        }
    }
    let role_tags = f.get("tags").map(|n| d.tags(n, "the role"));
    Some(Role::Managed(ManagedRole {
        pos: node.pos,
        keys: f.keys(),
        name,
        trust,
        managed_policies,
        policies,
        tags: role_tags.unwrap_or_default(),
    }))
}

fn statement(node: &Node, s: &mut Sink) -> Option<Statement> {
    let f = fields(
        node,
        "a policy statement",
        &["effect", "actions", "resources", "condition"],
        s,
    )?;
    let effect = f
        .get("effect")
        .and_then(|n| string(n, "`effect`", s))
        .unwrap_or_else(|| "Allow".into());
    let actions = f
        .required("actions", "a policy statement", s)
        .map(|n| {
            strings(n, "`actions`", s)
                .into_iter()
                .map(|(v, _)| v)
                .collect()
        })
        .unwrap_or_default();
    let resources = f
        .required("resources", "a policy statement", s)
        .map(|n| {
            strings(n, "`resources`", s)
                .into_iter()
                .map(|(v, _)| v)
                .collect()
        })
        .unwrap_or_default();
    let condition = f.get("condition").map(to_json);
    Some(Statement {
        pos: node.pos,
        effect,
        actions,
        resources,
        condition,
    })
}

fn to_json(node: &Node) -> serde_json::Value {
    match &node.value {
        Value::Scalar { text, .. } => serde_json::Value::String(text.clone()),
        Value::Seq(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.name.clone(), to_json(v)))
                .collect(),
        ),
    }
}

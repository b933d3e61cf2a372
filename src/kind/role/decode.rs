//! The `role:` section.

use std::collections::BTreeMap;

use super::{ManagedRole, Role, Statement};
use crate::yaml::decode::{Decoder, fields, named, seq, string, strings};
use crate::yaml::diag::Sink;
use crate::yaml::shape::{Field, TAGS, Ty};
use crate::yaml::{Node, Value};

pub(super) const SECTIONS: &[Field] = &[Field::opt(
    "role",
    Ty::Obj(ROLE),
    "The IAM role the lab's functions run as: one labctl creates, or `existing: LabRole`.",
)];

const ROLE: &[Field] = &[
    Field::opt(
        "existing",
        Ty::Str,
        "Use this role as it is (AWS Academy: `LabRole`); no other key then.",
    ),
    Field::opt("name", Ty::Str, "The role's name, when labctl creates it."),
    Field::opt(
        "trust",
        Ty::Strings,
        "Services that may assume it (default lambda.amazonaws.com).",
    ),
    Field::opt(
        "managed_policies",
        Ty::Strings,
        "ARNs of managed policies to attach.",
    ),
    Field::opt(
        "policies",
        Ty::Named(&Ty::List(&Ty::Obj(STATEMENT))),
        "Inline policies: a name, then its statements.",
    ),
    TAGS,
];

const STATEMENT: &[Field] = &[
    Field::opt(
        "effect",
        Ty::OneOf(&["Allow", "Deny"]),
        "`Allow` (the default) or `Deny`.",
    ),
    Field::req(
        "actions",
        Ty::Strings,
        "IAM actions, such as `s3:GetObject`.",
    ),
    Field::req(
        "resources",
        Ty::Strings,
        "ARNs, such as `${buckets.source.arn}/*`.",
    ),
    Field::opt(
        "condition",
        Ty::Any,
        "An IAM condition block, passed on as written.",
    ),
];

pub(super) fn role(node: &Node, d: &mut Decoder) -> Option<Role> {
    let s = &mut d.sink;
    let f = fields(node, "`role`", ROLE, s)?;
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
    let f = fields(node, "a policy statement", STATEMENT, s)?;
    let effect = match f.get("effect") {
        None => "Allow".to_owned(),
        Some(n) => {
            let e = string(n, "`effect`", s).unwrap_or_default();
            if !e.is_empty() && e != "Allow" && e != "Deny" {
                s.err(
                    n.pos,
                    format!("effect `{e}` is neither Allow nor Deny"),
                    "write `effect: Allow` or `effect: Deny`",
                );
            }
            e
        }
    };
    let actions = f
        .get("actions")
        .map(|n| {
            strings(n, "`actions`", s)
                .into_iter()
                .map(|(v, _)| v)
                .collect()
        })
        .unwrap_or_default();
    let resources = f
        .get("resources")
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

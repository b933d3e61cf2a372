//! IAM rules: role and policy names, trust principals, statements and size quotas.

use super::{Role, Statement};
use crate::template::Vars;
use crate::yaml::diag::Sink;

fn iam_name_ok(n: &str, max: usize) -> bool {
    !n.is_empty()
        && n.len() <= max
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

/// IAM condition operators; each may take `ForAllValues:`/`ForAnyValue:` in front and
/// `IfExists` behind (except `Null`).
const CONDITION_OPERATORS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Null",
];

fn condition_operator_ok(op: &str) -> bool {
    let op = op
        .strip_prefix("ForAllValues:")
        .or_else(|| op.strip_prefix("ForAnyValue:"))
        .unwrap_or(op);
    let op = match op.strip_suffix("IfExists") {
        Some("Null") => return false,
        Some(base) => base,
        None => op,
    };
    CONDITION_OPERATORS.contains(&op)
}

pub(super) fn role(role: &Role, vars: &Vars, s: &mut Sink) {
    let r = match role {
        Role::Existing { pos, name } => {
            if !iam_name_ok(name, 64) {
                s.err(
                    *pos,
                    format!("role name `{name}` is not a valid IAM role name"),
                    "IAM role names are 1-64 characters of A-Z a-z 0-9 and + = , . @ _ -",
                );
            }
            return;
        }
        Role::Managed(r) => r,
    };
    let at = |k: &str| r.keys.at(k, r.pos);
    match vars.expand(&r.name, false) {
        Err(e) => s.err(
            at("name"),
            e,
            "role names may use ${lab}, ${account_id} and ${region}",
        ),
        Ok(n) if !iam_name_ok(&n, 64) => s.err(
            at("name"),
            format!("role name `{n}` is not a valid IAM role name"),
            "IAM role names are 1-64 characters of A-Z a-z 0-9 and + = , . @ _ -",
        ),
        Ok(_) => {}
    }
    if r.trust.is_empty() {
        s.err(
            at("trust"),
            "the role trusts no service",
            "add `trust: [lambda.amazonaws.com]`",
        );
    }
    for t in &r.trust {
        let host = t.strip_suffix(".amazonaws.com");
        if !host.is_some_and(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        }) {
            s.err(
                at("trust"),
                format!("trusted principal `{t}` is not an AWS service principal"),
                "write service principals such as `lambda.amazonaws.com`",
            );
        }
    }
    if r.managed_policies.len() > 10 {
        s.err(
            at("managed_policies"),
            format!(
                "{} managed policies; IAM attaches at most 10 per role by default",
                r.managed_policies.len()
            ),
            "merge policies or move statements into `policies`",
        );
    }
    for arn in &r.managed_policies {
        let ok = arn
            .strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.split_once(":policy/"))
            .is_some_and(|(acct, name)| {
                (acct == "aws" || (acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit())))
                    && !name.is_empty()
            });
        if !ok {
            s.err(at("managed_policies"), format!("managed policy `{arn}` is not a policy ARN"), "write the full ARN, e.g. `arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole`");
        }
    }
    let mut total = 0;
    for (name, stmts) in &r.policies {
        if !iam_name_ok(name, 128) {
            s.err(
                at("policies"),
                format!("inline policy name `{name}` is not valid"),
                "use 1-128 characters of A-Z a-z 0-9 and + = , . @ _ -",
            );
        }
        if stmts.is_empty() {
            s.err(
                at("policies"),
                format!("inline policy `{name}` has no statements"),
                "add statements or remove the policy",
            );
        }
        for st in stmts {
            statement(st, vars, s);
        }
        if let Ok(doc) = super::policy::document(stmts, vars) {
            total += doc.len();
        }
    }
    if total > 10_240 {
        s.err(
            at("policies"),
            format!("inline policies total {total} characters; IAM allows 10,240 per role"),
            "shorten the policies (wildcards, fewer resources) or use a managed policy",
        );
    }
    let trust_len = super::policy::trust_document(&r.trust).len();
    if trust_len > 2048 {
        s.err(
            r.pos,
            format!("trust policy is {trust_len} characters; IAM allows 2,048"),
            "trust fewer principals",
        );
    }
}

fn statement(st: &Statement, vars: &Vars, s: &mut Sink) {
    if st.actions.is_empty() {
        s.err(
            st.pos,
            "a statement with no actions",
            "list actions such as `s3:GetObject`",
        );
    }
    for a in &st.actions {
        let ok = a == "*"
            || a.split_once(':').is_some_and(|(svc, act)| {
                !svc.is_empty()
                    && svc.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !act.is_empty()
                    && act
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?')
            });
        if !ok {
            s.err(
                st.pos,
                format!("action `{a}` is not `service:Action`"),
                "prefix each action with its service, e.g. `s3:GetObject`",
            );
        }
    }
    if st.resources.is_empty() {
        s.err(
            st.pos,
            "a statement with no resources",
            "list ARNs, e.g. `${buckets.source.arn}/*`",
        );
    }
    for r in &st.resources {
        match vars.expand(r, true) {
            Err(e) => s.err(st.pos, e, "fix the placeholder"),
            // arn:partition:service:region:account:resource
            Ok(x) if x != "*" && !(x.starts_with("arn:") && x.splitn(6, ':').count() == 6) => {
                s.err(
                    st.pos,
                    format!("resource `{x}` is not an ARN"),
                    "write an ARN (`arn:aws:service:region:account:resource`), `${buckets.NAME.arn}` or `*`",
                )
            }
            Ok(_) => {}
        }
    }
    if let Some(c) = &st.condition {
        condition(st, c, s);
    }
}

/// `condition: { Operator: { key: value or [values] } }`, as IAM reads it.
fn condition(st: &Statement, c: &serde_json::Value, s: &mut Sink) {
    use serde_json::Value;
    let Some(ops) = c.as_object().filter(|o| !o.is_empty()) else {
        s.err(
            st.pos,
            "`condition` is not a map of condition operators",
            "write e.g. `condition: { StringEquals: { \"aws:SourceAccount\": \"${account_id}\" } }`",
        );
        return;
    };
    for (op, keys) in ops {
        if !condition_operator_ok(op) {
            s.err(
                st.pos,
                format!("`{op}` is not an IAM condition operator"),
                "use an operator such as StringEquals, StringLike, ArnLike, IpAddress, Bool or Null (optionally with IfExists or ForAnyValue:/ForAllValues:)",
            );
        }
        let ok = keys.as_object().is_some_and(|k| {
            !k.is_empty()
                && k.iter().all(|(key, v)| {
                    !key.is_empty()
                        && match v {
                            Value::String(_) | Value::Bool(_) | Value::Number(_) => true,
                            Value::Array(a) => {
                                !a.is_empty()
                                    && a.iter().all(|x| {
                                        matches!(
                                            x,
                                            Value::String(_) | Value::Bool(_) | Value::Number(_)
                                        )
                                    })
                            }
                            _ => false,
                        }
                })
        });
        if !ok {
            s.err(
                st.pos,
                format!("condition `{op}` must map condition keys to a value or a list of values"),
                "write e.g. `StringEquals: { \"aws:SourceAccount\": \"123456789012\" }`",
            );
        }
    }
}

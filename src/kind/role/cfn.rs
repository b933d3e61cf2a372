//! The lab's role as an `AWS::IAM::Role`; an existing role (AWS Academy's LabRole) is
//! only referred to, by its ARN.

use serde_json::{Value as Json, json};

use super::{Role, policy};
use crate::export::{Template, sub, sub_all, tags};
use crate::kind::Lab;
use crate::template::Vars;

pub const LOGICAL: &str = "Role";

pub fn export(lab: &Lab, vars: &Vars, t: &mut Template) {
    let Some(Role::Managed(r)) = &lab.role else {
        return;
    };
    let mut policies = Vec::new();
    for (name, statements) in &r.policies {
        // Validation filled these in already; a failure here cannot happen.
        let Ok(doc) = policy::document(statements, vars) else {
            continue;
        };
        let doc: Json = serde_json::from_str(&doc).unwrap_or_default();
        policies.push(json!({ "PolicyName": name, "PolicyDocument": sub_all(&doc) }));
    }
    let trust: Json = serde_json::from_str(&policy::trust_document(&r.trust)).unwrap_or_default();
    let mut p = json!({
        "RoleName": sub(&super::name(r, vars)),
        "AssumeRolePolicyDocument": trust,
        "Tags": tags(lab, &r.tags),
    });
    if !r.managed_policies.is_empty() {
        p["ManagedPolicyArns"] = json!(r.managed_policies);
    }
    if !policies.is_empty() {
        p["Policies"] = json!(policies);
    }
    t.resource(LOGICAL, "AWS::IAM::Role", p);
}

/// The ARN the lab's functions (and crawlers, and instance profile) run as.
pub fn arn(lab: &Lab) -> Option<Json> {
    match &lab.role {
        Some(Role::Managed(_)) => Some(json!({ "Fn::GetAtt": [LOGICAL, "Arn"] })),
        Some(Role::Existing { name, .. }) => Some(json!({
            "Fn::Sub": format!("arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{name}")
        })),
        None => None,
    }
}

/// The role's name, for what takes a name (an instance profile).
pub fn name(lab: &Lab) -> Option<Json> {
    match &lab.role {
        Some(Role::Managed(_)) => Some(json!({ "Ref": LOGICAL })),
        Some(Role::Existing { name, .. }) => Some(json!(name)),
        None => None,
    }
}

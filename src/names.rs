//! Names and ARNs that more than one kind derives the same way. Pure string building,
//! below every kind, so a kind that points at another's resource never imports it.

/// Roles labctl creates live under this path, so one ListRoles call finds the lab's roles.
pub const ROLE_PATH: &str = "/labctl/";

pub fn role_arn(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:role{ROLE_PATH}{name}")
}

pub fn function_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{account}:function:{name}")
}

/// The EventBridge rule of a function's `i`-th trigger.
pub fn rule_name(function: &str, i: usize) -> String {
    format!("{function}-{i}")
}

pub fn rule_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:events:{region}:{account}:rule/{name}")
}

pub fn bucket_arn(name: &str) -> String {
    format!("arn:aws:s3:::{name}")
}

/// Layer versions carry this in their description (layers cannot be tagged).
pub fn layer_marker(lab: &str) -> String {
    format!("labctl:lab={lab} ")
}

/// The description a layer version carries: its owner and content key.
pub fn layer_description(lab: &str, key: &str) -> String {
    format!("{}sha256={key}", layer_marker(lab))
}

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

/// Lambda statement ids allow only `[a-zA-Z0-9-_]`, at most 100 characters. Bucket and
/// rule names may hold dots, never `_`: mapping `.` to `_` keeps the id valid, stable
/// and unique, and reversible.
fn sid_safe(name: &str) -> String {
    name.replace('.', "_")
}

/// The statement that lets S3 invoke a function for `bucket`'s direct triggers.
pub fn s3_permission_sid(bucket: &str) -> String {
    format!("labctl-s3-{}", sid_safe(bucket))
}

/// The bucket an S3 statement of labctl's is for.
pub fn bucket_of_s3_sid(sid: &str) -> Option<String> {
    sid.strip_prefix("labctl-s3-").map(|b| b.replace('_', "."))
}

/// The statement that lets EventBridge invoke a function for `rule`.
pub fn events_permission_sid(rule: &str) -> String {
    format!("labctl-events-{}", sid_safe(rule))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn valid_sid(s: &str) -> bool {
        (1..=100).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    proptest! {
        /// Every bucket name S3 accepts (3-63 of a-z 0-9 . -) gives a valid id, the
        /// same each time, that leads back to the bucket.
        #[test]
        fn s3_statement_ids_are_valid_stable_and_reversible(
            name in "[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
        ) {
            let sid = s3_permission_sid(&name);
            prop_assert!(valid_sid(&sid), "{sid}");
            prop_assert_eq!(&sid, &s3_permission_sid(&name));
            prop_assert_eq!(bucket_of_s3_sid(&sid), Some(name));
        }

        #[test]
        fn events_statement_ids_are_valid(rule in "[a-zA-Z0-9._-]{1,64}") {
            prop_assert!(valid_sid(&events_permission_sid(&rule)));
        }
    }

    #[test]
    fn dotted_buckets_get_distinct_ids() {
        assert_eq!(s3_permission_sid("my.photos"), "labctl-s3-my_photos");
        assert_ne!(s3_permission_sid("a.b-c"), s3_permission_sid("a-b.c"));
    }
}

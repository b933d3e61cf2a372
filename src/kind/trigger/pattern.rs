//! The EventBridge event pattern of a trigger: shared by validation (its size) and the
//! plan (the rule's pattern).

use serde_json::json;

use crate::kind::lambda::Trigger;

/// Most case variants of a suffix a prefix-and-suffix pattern lists; more cannot fit
/// EventBridge's 2,048 characters anyway (validation says so first).
const MAX_VARIANTS: usize = 256;

/// What S3 puts in `detail.reason` for each event type it sends EventBridge.
fn reasons(event: &str) -> &'static [&'static str] {
    const CREATED: &[&str] = &[
        "PutObject",
        "POST Object",
        "CopyObject",
        "CompleteMultipartUpload",
    ];
    match event {
        "s3:ObjectCreated:*" => CREATED,
        "s3:ObjectCreated:Put" => &["PutObject"],
        "s3:ObjectCreated:Post" => &["POST Object"],
        "s3:ObjectCreated:Copy" => &["CopyObject"],
        "s3:ObjectCreated:CompleteMultipartUpload" => &["CompleteMultipartUpload"],
        // A removal as a direct notification reports it: by a request, not by a
        // lifecycle expiration (which S3 notifications call LifecycleExpiration).
        e if e.starts_with("s3:ObjectRemoved") => &["DeleteObject"],
        _ => &[],
    }
}

/// Every upper/lower-case spelling of `s` (wildcards match case exactly).
pub fn case_variants(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for c in s.chars() {
        let (lo, up) = (c.to_ascii_lowercase(), c.to_ascii_uppercase());
        out = out
            .into_iter()
            .flat_map(|p| {
                if lo == up {
                    vec![format!("{p}{c}")]
                } else {
                    vec![format!("{p}{lo}"), format!("{p}{up}")]
                }
            })
            .take(MAX_VARIANTS + 1)
            .collect();
    }
    out
}

/// How many wildcards a prefix-and-suffix trigger needs: one per case spelling of each
/// suffix (saturating, so validation can refuse an enormous one without building it).
pub fn wildcard_count(t: &Trigger) -> u64 {
    if t.prefix.is_none() {
        return 0;
    }
    t.suffixes
        .iter()
        .map(|s| {
            let letters = s.chars().filter(char::is_ascii_alphabetic).count() as u32;
            2u64.saturating_pow(letters)
        })
        .fold(0u64, u64::saturating_add)
}

/// The event pattern of an EventBridge trigger: the bucket, the event family, and the
/// key's prefix and suffixes. Suffixes match without regard to case, with a prefix or
/// without; removals are those made by requests, as a direct S3 trigger sees them.
pub fn pattern(bucket: &str, t: &Trigger) -> String {
    let created = t.events.iter().any(|e| e.starts_with("s3:ObjectCreated"));
    let removed = t.events.iter().any(|e| e.starts_with("s3:ObjectRemoved"));
    let mut detail_types = Vec::new();
    if created {
        detail_types.push("Object Created");
    }
    if removed {
        detail_types.push("Object Deleted");
    }
    let mut detail = json!({ "bucket": { "name": [bucket] } });
    // Every Object Created event has one of the created reasons: filtering on them
    // matters only when a type is named, or removals take part (to leave lifecycle
    // expirations out).
    let named = t.events.iter().all(|e| !e.ends_with(":*"));
    if removed || named {
        let mut r: Vec<&str> = t
            .events
            .iter()
            .flat_map(|e| reasons(e).iter().copied())
            .collect();
        r.sort_unstable();
        r.dedup();
        detail["reason"] = json!(r);
    }
    // Which removal, where the trigger names one (validation keeps that to triggers of
    // removals alone: Object Created events carry no deletion-type).
    let deletion: Vec<&str> = t
        .events
        .iter()
        .filter_map(|e| match e.as_str() {
            "s3:ObjectRemoved:Delete" => Some("Permanently Deleted"),
            "s3:ObjectRemoved:DeleteMarkerCreated" => Some("Delete Marker Created"),
            _ => None,
        })
        .collect();
    if !deletion.is_empty() && deletion.len() == t.events.len() {
        detail["deletion-type"] = json!(deletion);
    }
    let key: Vec<serde_json::Value> = match (&t.prefix, t.suffixes.is_empty()) {
        (None, true) => vec![],
        (Some(p), true) => vec![json!({ "prefix": p })],
        (None, false) => t
            .suffixes
            .iter()
            .map(|s| json!({ "suffix": { "equals-ignore-case": s } }))
            .collect(),
        // Prefix and suffix on one field: only a wildcard expresses both, and it is
        // case-sensitive, so every case spelling of each suffix is listed.
        (Some(p), false) => {
            let escape = |s: &str| s.replace('\\', "\\\\");
            let mut v: Vec<String> = t
                .suffixes
                .iter()
                .flat_map(|s| {
                    case_variants(s)
                        .into_iter()
                        .map(|c| format!("{}*{}", escape(p), escape(&c)))
                        .collect::<Vec<_>>()
                })
                .collect();
            v.sort();
            v.dedup();
            v.into_iter().map(|w| json!({ "wildcard": w })).collect()
        }
    };
    if !key.is_empty() {
        detail["object"] = json!({ "key": key });
    }
    json!({ "source": ["aws.s3"], "detail-type": detail_types, "detail": detail }).to_string()
}

#[cfg(test)]
mod tests {
    fn trigger(
        events: &[&str],
        prefix: Option<&str>,
        suffixes: &[&str],
    ) -> crate::kind::lambda::Trigger {
        crate::kind::lambda::Trigger {
            pos: Default::default(),
            bucket: "source".into(),
            events: events.iter().map(|e| e.to_string()).collect(),
            prefix: prefix.map(str::to_owned),
            suffixes: suffixes.iter().map(|s| s.to_string()).collect(),
            via: crate::kind::lambda::Via::EventBridge,
        }
    }

    #[test]
    fn eventbridge_patterns_keep_event_types_and_suffixes_as_written() {
        let p = |t| serde_json::from_str::<serde_json::Value>(&super::pattern("b", &t)).unwrap();
        // A named event type narrows the rule to it, as S3's own filter would.
        let put = p(trigger(&["s3:ObjectCreated:Put"], None, &[]));
        assert_eq!(put["detail"]["reason"], serde_json::json!(["PutObject"]));
        let marker = p(trigger(
            &["s3:ObjectRemoved:DeleteMarkerCreated"],
            None,
            &[],
        ));
        assert_eq!(
            marker["detail"]["deletion-type"],
            serde_json::json!(["Delete Marker Created"])
        );
        assert!(p(trigger(&["s3:ObjectCreated:*"], None, &[]))["detail"]["reason"].is_null());
        // With a prefix, a suffix matches in every case, as it does without one.
        let w = p(trigger(
            &["s3:ObjectCreated:*"],
            Some("raw/"),
            &[".jpg", ".JPG"],
        ));
        let keys: Vec<&str> = w["detail"]["object"]["key"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["wildcard"].as_str().unwrap())
            .collect();
        assert_eq!(keys.len(), 8, "{keys:?}");
        assert!(keys.contains(&"raw/*.jPg") && keys.contains(&"raw/*.JPG"));
        assert_eq!(
            super::wildcard_count(&trigger(&[], Some("x/"), &[".jpeg", ".png"])),
            24
        );
    }

    #[test]
    fn removals_are_those_a_direct_trigger_sees_never_lifecycle_expirations() {
        let p = |t| serde_json::from_str::<serde_json::Value>(&super::pattern("b", &t)).unwrap();
        let gone = p(trigger(&["s3:ObjectRemoved:*"], None, &[]));
        assert_eq!(gone["detail-type"], serde_json::json!(["Object Deleted"]));
        assert_eq!(
            gone["detail"]["reason"],
            serde_json::json!(["DeleteObject"])
        );
        let both = p(trigger(
            &["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
            None,
            &[],
        ));
        assert_eq!(
            both["detail"]["reason"],
            serde_json::json!([
                "CompleteMultipartUpload",
                "CopyObject",
                "DeleteObject",
                "POST Object",
                "PutObject"
            ])
        );
        assert!(both["detail"]["deletion-type"].is_null());
    }
}

//! The EventBridge event pattern of a trigger: shared by validation (its size) and the
//! plan (the rule's pattern).

use serde_json::json;

use crate::kind::lambda::Trigger;

/// The event pattern of an EventBridge trigger: the bucket, the event family, and the
/// key's prefix and suffixes (suffixes without regard to case, unlike S3's filters).
pub fn pattern(bucket: &str, t: &Trigger) -> String {
    let mut detail_types = Vec::new();
    if t.events.iter().any(|e| e.starts_with("s3:ObjectCreated")) {
        detail_types.push("Object Created");
    }
    if t.events.iter().any(|e| e.starts_with("s3:ObjectRemoved")) {
        detail_types.push("Object Deleted");
    }
    let mut detail = json!({ "bucket": { "name": [bucket] } });
    // The event types within a family, as S3 names them in `detail`; only when every
    // event is of one family and names a type (one filter field serves both families).
    let created: Vec<&str> = t
        .events
        .iter()
        .filter_map(|e| match e.as_str() {
            "s3:ObjectCreated:Put" => Some("PutObject"),
            "s3:ObjectCreated:Post" => Some("POST Object"),
            "s3:ObjectCreated:Copy" => Some("CopyObject"),
            "s3:ObjectCreated:CompleteMultipartUpload" => Some("CompleteMultipartUpload"),
            _ => None,
        })
        .collect();
    let removed: Vec<&str> = t
        .events
        .iter()
        .filter_map(|e| match e.as_str() {
            "s3:ObjectRemoved:Delete" => Some("Permanently Deleted"),
            "s3:ObjectRemoved:DeleteMarkerCreated" => Some("Delete Marker Created"),
            _ => None,
        })
        .collect();
    if created.len() == t.events.len() {
        detail["reason"] = json!(created);
    } else if removed.len() == t.events.len() {
        detail["deletion-type"] = json!(removed);
    }
    let key: Vec<serde_json::Value> = match (&t.prefix, t.suffixes.is_empty()) {
        (None, true) => vec![],
        (Some(p), true) => vec![json!({ "prefix": p })],
        (None, false) => t
            .suffixes
            .iter()
            .map(|s| json!({ "suffix": { "equals-ignore-case": s } }))
            .collect(),
        // Prefix and suffix on one field: only a wildcard expresses both (case-sensitive,
        // so the suffix as written and in lower and upper case are listed).
        (Some(p), false) => {
            let mut v: Vec<String> = t
                .suffixes
                .iter()
                .flat_map(|s| {
                    [
                        format!("{p}*{s}"),
                        format!("{p}*{}", s.to_lowercase()),
                        format!("{p}*{}", s.to_uppercase()),
                    ]
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
        // Prefix and suffixes: each suffix as written, in lower and in upper case, once.
        let w = p(trigger(
            &["s3:ObjectCreated:*"],
            Some("raw/"),
            &[".Jpg", ".jpg", ".JPG"],
        ));
        assert_eq!(
            w["detail"]["object"]["key"],
            serde_json::json!([
                { "wildcard": "raw/*.JPG" },
                { "wildcard": "raw/*.Jpg" },
                { "wildcard": "raw/*.jpg" }
            ])
        );
    }
}

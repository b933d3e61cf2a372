//! Which of the lab's functions an S3 change fires, decided from the lab's own
//! triggers as AWS decides it: a direct trigger by its notification filter (event type,
//! prefix, suffix, case-sensitive), an EventBridge trigger by evaluating the very event
//! pattern labctl gives its rule. Each trigger on the bucket says whether it matched,
//! and if not why, for reports a student can act on.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::kind::Lab;
use crate::kind::lambda::{Trigger, Via};
use crate::kind::trigger::{notification_id, pattern};

/// A change to one object, as S3 reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The bucket's real name.
    pub bucket: String,
    pub key: String,
    /// S3's event name without `s3:`: `ObjectCreated:Put`, `ObjectRemoved:Delete`...
    pub event: String,
}

impl Change {
    pub fn created(bucket: &str, key: &str, how: &str) -> Change {
        Change {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            event: format!("ObjectCreated:{how}"),
        }
    }
}

/// One trigger on the changed bucket, and whether the change fires it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fire {
    /// The function's logical name.
    pub function: String,
    pub trigger: usize,
    pub via: Via,
    /// A direct trigger's notification entry Id (the event's `configurationId`).
    pub config_id: Option<String>,
    /// Why the trigger does not fire, or `None` when it does.
    pub miss: Option<String>,
}

impl Fire {
    pub fn fires(&self) -> bool {
        self.miss.is_none()
    }
}

/// Every trigger of the lab on `change.bucket`, fired or not. `buckets` maps logical
/// names to real ones.
pub fn route(lab: &Lab, buckets: &BTreeMap<String, String>, change: &Change) -> Vec<Fire> {
    let mut out = Vec::new();
    for (fname, f) in &lab.lambda.functions {
        for (i, t) in f.triggers.iter().enumerate() {
            if buckets.get(&t.bucket) != Some(&change.bucket) {
                continue;
            }
            let (miss, suffix_index) = filter_miss(t, change);
            let miss = match t.via {
                Via::S3 => miss,
                Via::EventBridge => {
                    let fired = matches(
                        &parse(&pattern(&change.bucket, t)),
                        &eventbridge_core(change),
                    );
                    match (fired, miss) {
                        (true, _) => None,
                        (false, Some(m)) => Some(m),
                        (false, None) => {
                            Some("its EventBridge rule's pattern does not match".into())
                        }
                    }
                }
            };
            let config_id = (t.via == Via::S3).then(|| {
                notification_id(
                    &lab.name,
                    fname,
                    i,
                    (t.suffixes.len() > 1).then_some(suffix_index.unwrap_or(0)),
                )
            });
            out.push(Fire {
                function: fname.clone(),
                trigger: i,
                via: t.via,
                config_id,
                miss,
            });
        }
    }
    out
}

/// Why a trigger's filter leaves the change out (with which of its suffixes matched).
/// Direct triggers compare suffixes case-sensitively, EventBridge ones (as labctl
/// writes their patterns) without regard to case.
fn filter_miss(t: &Trigger, c: &Change) -> (Option<String>, Option<usize>) {
    let wanted = |e: &String| {
        let e = e.trim_start_matches("s3:");
        match e.strip_suffix('*') {
            Some(family) => c.event.starts_with(family),
            None => c.event == e,
        }
    };
    if !t.events.iter().any(wanted) {
        return (
            Some(format!(
                "it fires on {}, and this is {}",
                t.events.join(", "),
                c.event
            )),
            None,
        );
    }
    if let Some(p) = &t.prefix
        && !c.key.starts_with(p.as_str())
    {
        return (Some(format!("the key does not start with `{p}`")), None);
    }
    if t.suffixes.is_empty() {
        return (None, None);
    }
    let key_lower = c.key.to_lowercase();
    let hit = t.suffixes.iter().position(|s| match t.via {
        Via::S3 => c.key.ends_with(s.as_str()),
        Via::EventBridge => key_lower.ends_with(&s.to_lowercase()),
    });
    match hit {
        Some(j) => (None, Some(j)),
        None => {
            let list: Vec<String> = t.suffixes.iter().map(|s| format!("`{s}`")).collect();
            let case = if t.via == Via::S3 {
                " (S3 compares case)"
            } else {
                ""
            };
            (
                Some(format!(
                    "the key does not end with {}{case}",
                    list.join(" or ")
                )),
                None,
            )
        }
    }
}

fn parse(p: &str) -> Value {
    serde_json::from_str(p).unwrap_or(Value::Null)
}

/// What S3 puts in an EventBridge event's `detail.reason` for an event name.
pub fn reason(event: &str) -> &'static str {
    match event {
        "ObjectCreated:Put" => "PutObject",
        "ObjectCreated:Post" => "POST Object",
        "ObjectCreated:Copy" => "CopyObject",
        "ObjectCreated:CompleteMultipartUpload" => "CompleteMultipartUpload",
        _ => "DeleteObject",
    }
}

/// The fields of S3's EventBridge event that a rule can filter on; the local runner
/// adds the rest to this same value.
pub fn eventbridge_core(c: &Change) -> Value {
    let created = c.event.starts_with("ObjectCreated");
    let mut detail = json!({
        "version": "0",
        "bucket": { "name": c.bucket },
        "object": { "key": c.key },
        "reason": reason(&c.event),
    });
    if !created {
        detail["deletion-type"] = json!(if c.event == "ObjectRemoved:DeleteMarkerCreated" {
            "Delete Marker Created"
        } else {
            "Permanently Deleted"
        });
    }
    json!({
        "version": "0",
        "detail-type": if created { "Object Created" } else { "Object Deleted" },
        "source": "aws.s3",
        "resources": [format!("arn:aws:s3:::{}", c.bucket)],
        "detail": detail,
    })
}

/// EventBridge's pattern matching: every field of the pattern must match; a list is a
/// choice of values or filters (prefix, suffix, equals-ignore-case, wildcard,
/// anything-but, exists); a field the event lacks matches only `exists: false`.
pub fn matches(pattern: &Value, event: &Value) -> bool {
    let Value::Object(fields) = pattern else {
        return false;
    };
    fields.iter().all(|(k, p)| {
        let v = event.get(k);
        match p {
            Value::Object(_) => v.is_some_and(|v| v.is_object() && matches(p, v)),
            Value::Array(choices) => choices.iter().any(|c| one(c, v)),
            _ => false,
        }
    })
}

/// One choice of a pattern field against the event's value (or each element of it).
fn one(choice: &Value, v: Option<&Value>) -> bool {
    if let Value::Object(op) = choice
        && let Some(Value::Bool(want)) = op.get("exists")
    {
        return v.is_some() == *want;
    }
    let Some(v) = v else {
        return false;
    };
    if let Value::Array(items) = v {
        return items.iter().any(|i| one(choice, Some(i)));
    }
    match choice {
        Value::Object(op) => op.iter().all(|(name, arg)| operator(name, arg, v)),
        scalar => scalar == v,
    }
}

fn operator(name: &str, arg: &Value, v: &Value) -> bool {
    let Some(s) = v.as_str() else {
        return match name {
            "anything-but" => !any_of(arg, v),
            _ => false,
        };
    };
    match name {
        "prefix" | "suffix" => {
            let (needle, fold) = match arg {
                Value::String(p) => (p.clone(), false),
                Value::Object(o) => match o.get("equals-ignore-case").and_then(Value::as_str) {
                    Some(p) => (p.to_owned(), true),
                    None => return false,
                },
                _ => return false,
            };
            let (hay, needle) = if fold {
                (s.to_lowercase(), needle.to_lowercase())
            } else {
                (s.to_owned(), needle)
            };
            if name == "prefix" {
                hay.starts_with(&needle)
            } else {
                hay.ends_with(&needle)
            }
        }
        "equals-ignore-case" => arg
            .as_str()
            .is_some_and(|a| a.to_lowercase() == s.to_lowercase()),
        "wildcard" => arg.as_str().is_some_and(|w| wildcard(w, s)),
        "anything-but" => match arg {
            Value::Object(o) => !o.iter().all(|(n, a)| operator(n, a, v)),
            _ => !any_of(arg, v),
        },
        _ => false,
    }
}

fn any_of(arg: &Value, v: &Value) -> bool {
    match arg {
        Value::Array(a) => a.contains(v),
        x => x == v,
    }
}

/// `*` matches any run of characters; `\*` is a literal star. Case-sensitive.
fn wildcard(pattern: &str, s: &str) -> bool {
    let mut parts: Vec<String> = vec![String::new()];
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'*') => {
                chars.next();
                if let Some(last) = parts.last_mut() {
                    last.push('*');
                }
            }
            '*' => parts.push(String::new()),
            c => {
                if let Some(last) = parts.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    let (first, rest) = parts
        .split_first()
        .map(|(f, r)| (f.as_str(), r))
        .unwrap_or(("", &[]));
    let Some(mut hay) = s.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return hay.is_empty();
    };
    for m in middle {
        match hay.find(m.as_str()) {
            Some(i) => hay = &hay[i + m.len()..],
            None => return false,
        }
    }
    hay.len() >= last.len() && hay.ends_with(last.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_eventbridge_does() {
        assert!(wildcard("photos/*.jpg", "photos/a/b.jpg"));
        assert!(wildcard("photos/*.jpg", "photos/.jpg"));
        assert!(!wildcard("photos/*.jpg", "photos/a.JPG"));
        assert!(!wildcard("photos/*.jpg", "other/a.jpg"));
        assert!(wildcard("a*b*c", "aXbYc"));
        assert!(!wildcard("a*b*c", "aXcYb"));
        assert!(wildcard("a\\*b", "a*b"));
        assert!(!wildcard("a\\*b", "aXb"));
        assert!(wildcard("*", ""));
        assert!(!wildcard("ab*ba", "aba"), "the two ends must not overlap");
    }

    #[test]
    fn patterns_match_fields_choices_and_filters() {
        let p = json!({
            "source": ["aws.s3"],
            "detail": {
                "bucket": { "name": ["b"] },
                "object": { "key": [{ "suffix": { "equals-ignore-case": ".jpg" } }, { "prefix": "raw/" }] },
                "reason": [{ "anything-but": ["CopyObject"] }],
            }
        });
        let ev = |key: &str, reason: &str| json!({ "source": "aws.s3", "detail": { "bucket": { "name": "b" }, "object": { "key": key }, "reason": reason } });
        assert!(matches(&p, &ev("x/A.JPG", "PutObject")));
        assert!(matches(&p, &ev("raw/notes.txt", "PutObject")));
        assert!(!matches(&p, &ev("x/notes.txt", "PutObject")));
        assert!(!matches(&p, &ev("x/a.jpg", "CopyObject")));
        let absent = json!({ "detail": { "deletion-type": [{ "exists": false }] } });
        assert!(matches(&absent, &ev("k", "PutObject")));
        let present = json!({ "detail": { "reason": [{ "exists": true }] } });
        assert!(matches(&present, &ev("k", "PutObject")));
        assert!(!matches(
            &json!({ "missing": ["x"] }),
            &ev("k", "PutObject")
        ));
    }
}

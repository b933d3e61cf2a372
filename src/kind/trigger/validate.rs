//! S3's and EventBridge's rules for triggers: the bucket they name, their events,
//! literal filters, overlapping notifications, rule names and pattern sizes, and a
//! function that would trigger itself.

use std::collections::BTreeSet;

use super::pattern::pattern;
use crate::kind::Lab;
use crate::kind::lambda::{Function, Trigger, Via};
use crate::template::Vars;
use crate::yaml::diag::{Sink, did_you_mean};

const S3_EVENTS: &[&str] = &[
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
    "s3:ObjectAcl:Put",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:ReducedRedundancyLostObject",
    "s3:Replication:*",
    "s3:Replication:OperationFailedReplication",
    "s3:Replication:OperationMissedThreshold",
    "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:Replication:OperationNotTracked",
];

pub(super) fn triggers(lab: &Lab, vars: &Vars, s: &mut Sink) {
    for (name, f) in &lab.lambda.functions {
        function(lab, name, f, vars, s);
    }
    overlaps_on_a_bucket(lab, s);
}

fn function(lab: &Lab, name: &str, f: &Function, vars: &Vars, s: &mut Sink) {
    let phys = lab.physical(name);
    for (i, t) in f.triggers.iter().enumerate() {
        if t.via == Via::EventBridge && phys.len() + 1 + i.to_string().len() > 64 {
            s.err(t.pos, format!("the EventBridge rule for this trigger would be named `{phys}-{i}`, longer than 64 characters"), "shorten the lab or function name");
        }
        let named_removal = t
            .events
            .iter()
            .any(|e| e == "s3:ObjectRemoved:Delete" || e == "s3:ObjectRemoved:DeleteMarkerCreated");
        if t.via == Via::EventBridge
            && named_removal
            && t.events.iter().any(|e| e.starts_with("s3:ObjectCreated"))
        {
            s.err(
                t.pos,
                "one EventBridge trigger cannot match creations and a named kind of removal",
                "split it in two: one trigger for the s3:ObjectCreated events, one for the removals",
            );
        }
        let spellings = super::pattern::wildcard_count(t);
        if t.via == Via::EventBridge && spellings > 64 {
            s.err(
                t.pos,
                format!("with a prefix, EventBridge needs every case spelling of each suffix: {spellings} here"),
                "use shorter or fewer suffixes with a prefix, or drop the prefix (suffixes alone match any case in one entry each)",
            );
        } else if t.via == Via::EventBridge
            && let Some(bucket) = vars.buckets.get(&t.bucket)
        {
            let len = pattern(bucket, t).len();
            if len > 2048 {
                s.err(
                    t.pos,
                    format!("this trigger's EventBridge pattern would be {len} characters; EventBridge allows 2,048"),
                    "list fewer suffixes, or split the trigger in two",
                );
            }
        }
        if !lab.buckets.contains_key(&t.bucket) {
            let known: Vec<&str> = lab.buckets.keys().map(String::as_str).collect();
            let help = did_you_mean(&t.bucket, &known)
                .map(|m| format!("did you mean `{m}`?"))
                .unwrap_or_else(|| {
                    "name a bucket declared under `buckets:` (its logical name)".into()
                });
            s.err(
                t.pos,
                format!("trigger names bucket `{}`, which is not declared", t.bucket),
                help,
            );
        }
        if t.events.is_empty() {
            s.err(
                t.pos,
                "a trigger with no events",
                "add `events: [\"s3:ObjectCreated:*\"]`",
            );
        }
        for e in &t.events {
            if !S3_EVENTS.contains(&e.as_str()) {
                let help = did_you_mean(e, S3_EVENTS)
                    .map(|m| format!("did you mean `{m}`?"))
                    .unwrap_or_else(|| "use an S3 event type such as `s3:ObjectCreated:*`".into());
                s.err(t.pos, format!("unknown S3 event `{e}`"), help);
            } else if t.via == Via::EventBridge
                && !(e.starts_with("s3:ObjectCreated") || e.starts_with("s3:ObjectRemoved"))
            {
                s.err(
                    t.pos,
                    format!("event `{e}` is not routed through EventBridge by labctl"),
                    "EventBridge triggers take s3:ObjectCreated:* and s3:ObjectRemoved:* events",
                );
            }
        }
        for sfx in &t.suffixes {
            if sfx.is_empty() || sfx.contains('*') {
                s.err(
                    t.pos,
                    format!("suffix `{sfx}` is not a literal file ending"),
                    "S3 filters match literal text: write `.jpg`, without wildcards",
                );
            }
        }
        if t.prefix.as_deref().is_some_and(|p| p.contains('*')) {
            s.err(
                t.pos,
                "prefix contains `*`",
                "S3 filters match literal text: write `uploads/`, without wildcards",
            );
        }
        write_loop(name, f, t, vars, s);
    }
}

/// A function that writes into the bucket that triggers it runs forever (S3 -> Lambda ->
/// S3 ...). labctl cannot read the code, so it takes the destination from the
/// environment: a value naming the trigger's bucket is a write there, safe only when the
/// trigger's prefix cannot match what the function writes (a `*_PREFIX` variable).
fn write_loop(name: &str, f: &Function, t: &Trigger, vars: &Vars, s: &mut Sink) {
    let Some(bucket) = vars.buckets.get(&t.bucket) else {
        return;
    };
    let names_bucket = |x: &str| {
        x == bucket
            || x.contains(&format!("s3://{bucket}"))
            || x.contains(&format!("arn:aws:s3:::{bucket}"))
    };
    // A variable named for where the function reads (SOURCE_BUCKET, INPUT_BUCKET...)
    // is not where it writes.
    let read_side = |k: &str| {
        let k = k.to_ascii_uppercase();
        ["SOURCE", "SRC", "INPUT", "READ", "FROM"]
            .iter()
            .any(|w| k.contains(w))
    };
    let writes_there = f
        .environment
        .iter()
        .filter(|(k, _)| !read_side(k))
        .any(|(_, v)| vars.expand(v, true).is_ok_and(|x| names_bucket(&x)));
    // Writing an object fires ObjectCreated (and tagging it ObjectTagging); a trigger
    // on removals or restores only is not fed by the function's writes.
    let fed = t
        .events
        .iter()
        .any(|e| e.starts_with("s3:ObjectCreated") || e.starts_with("s3:ObjectTagging"));
    if !writes_there || !fed {
        return;
    }
    let out_prefixes: Vec<String> = f
        .environment
        .iter()
        .filter(|(k, _)| k.ends_with("PREFIX"))
        .filter_map(|(_, v)| vars.expand(v, true).ok())
        .collect();
    let safe = match &t.prefix {
        Some(p) if !p.is_empty() => {
            !out_prefixes.is_empty()
                && out_prefixes
                    .iter()
                    .all(|o| !o.starts_with(p.as_str()) && !p.starts_with(o.as_str()))
        }
        _ => false,
    };
    if !safe {
        s.err(t.pos, format!("function `{name}` writes into bucket `{}`, which triggers it: every object it writes would trigger it again", t.bucket), "write to another bucket, or give the trigger a `prefix` that the function's output (its *_PREFIX variable) can never match");
    }
}

fn overlaps_on_a_bucket(lab: &Lab, s: &mut Sink) {
    // (bucket, function, trigger) for every direct notification, one entry per suffix.
    let mut direct: Vec<(&str, &str, &Trigger, Option<&str>)> = Vec::new();
    for (fname, f) in &lab.lambda.functions {
        for t in f.triggers.iter().filter(|t| t.via == Via::S3) {
            if t.suffixes.is_empty() {
                direct.push((&t.bucket, fname, t, None));
            }
            for sfx in &t.suffixes {
                direct.push((&t.bucket, fname, t, Some(sfx)));
            }
        }
    }
    let mut reported = BTreeSet::new();
    for (i, a) in direct.iter().enumerate() {
        for b in &direct[i + 1..] {
            // Entries of one trigger are its suffixes: S3 gets one rule for each.
            if a.0 != b.0 {
                continue;
            }
            let events =
                a.2.events
                    .iter()
                    .any(|x| b.2.events.iter().any(|y| events_overlap(x, y)));
            let prefix = overlaps(
                a.2.prefix.as_deref().unwrap_or(""),
                b.2.prefix.as_deref().unwrap_or(""),
                |x, y| x.starts_with(y),
            );
            let suffix = overlaps(a.3.unwrap_or(""), b.3.unwrap_or(""), |x, y| x.ends_with(y));
            if events && prefix && suffix && std::ptr::eq(a.2, b.2) {
                s.err(
                    b.2.pos,
                    format!(
                        "suffixes `{}` and `{}` of this trigger overlap: S3 rejects two notifications whose suffixes can match the same key",
                        a.3.unwrap_or(""),
                        b.3.unwrap_or("")
                    ),
                    "list each suffix once, and none that ends with another (`photo.jpg` ends with both `.jpg` and `jpg`)",
                );
            } else if events && prefix && suffix && reported.insert((b.2.pos, a.2.pos)) {
                s.err(
                    b.2.pos,
                    format!("this trigger overlaps the one on line {} (function `{}`) on bucket `{}`: S3 rejects two notifications with overlapping events, prefixes and suffixes", a.2.pos.line, a.1, a.0),
                    "add `via: eventbridge` to one of them (EventBridge rules may overlap), or make their prefixes or suffixes disjoint",
                );
            }
        }
    }
}

fn events_overlap(a: &str, b: &str) -> bool {
    let family = |e: &str| {
        e.rsplit_once(':')
            .map(|(f, _)| f.to_owned())
            .unwrap_or_default()
    };
    a == b || (family(a) == family(b) && (a.ends_with(":*") || b.ends_with(":*")))
}

fn overlaps(a: &str, b: &str, f: fn(&str, &str) -> bool) -> bool {
    f(a, b) || f(b, a)
}

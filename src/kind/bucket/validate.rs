//! S3's rules: bucket names and lifecycle configurations.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use super::{Bucket, Transition};
use crate::kind::Lab;
use crate::template::Vars;
use crate::yaml::diag::Sink;

pub(super) const STORAGE_CLASSES: &[&str] = &[
    "STANDARD_IA",
    "INTELLIGENT_TIERING",
    "ONEZONE_IA",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
];

pub fn bucket_name_problem(name: &str) -> Option<String> {
    let b = name.as_bytes();
    if !(3..=63).contains(&b.len()) {
        return Some(format!("is {} characters long; S3 allows 3-63", b.len()));
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
    {
        return Some("may only hold lowercase letters, digits, '.' and '-'".into());
    }
    if !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return Some("must start and end with a letter or digit".into());
    }
    if name.contains("..") {
        return Some("may not contain two adjacent dots".into());
    }
    if name.parse::<Ipv4Addr>().is_ok() {
        return Some("may not be formatted as an IP address".into());
    }
    for p in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(p) {
            return Some(format!("may not start with `{p}`"));
        }
    }
    for sfx in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(sfx) {
            return Some(format!("may not end with `{sfx}`"));
        }
    }
    None
}

pub(super) fn buckets(lab: &Lab, vars: &Vars, s: &mut Sink) {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (logical, b) in &lab.buckets {
        match vars.expand(&b.name, false) {
            Err(e) => s.err(
                b.name_pos,
                e,
                "bucket names may use ${lab}, ${account_id} and ${region}",
            ),
            Ok(name) => {
                if let Some(why) = bucket_name_problem(&name) {
                    s.err(b.name_pos, format!("bucket name `{name}` {why}"), "S3 bucket names are 3-63 characters of a-z, 0-9, '.' and '-'; e.g. `${lab}-source-${account_id}`");
                } else if name.contains('.') {
                    s.warn(
                        b.name_pos,
                        format!("bucket name `{name}` contains a dot"),
                        "dots break HTTPS virtual-host addressing of the bucket: use '-' instead",
                    );
                }
                if let Some(other) = seen.insert(name.clone(), logical) {
                    s.err(
                        b.name_pos,
                        format!(
                            "buckets `{other}` and `{logical}` both resolve to the name `{name}`"
                        ),
                        "give each bucket its own name",
                    );
                }
            }
        }
        lifecycle(b, s);
    }
}

fn class_rank(c: &str) -> usize {
    STORAGE_CLASSES.iter().position(|x| *x == c).unwrap_or(0)
}

fn lifecycle(b: &Bucket, s: &mut Sink) {
    if b.lifecycle.len() > 1000 {
        s.err(
            b.pos,
            "more than 1000 lifecycle rules",
            "S3 allows 1000 rules per bucket: merge rules",
        );
    }
    let mut ids = BTreeSet::new();
    for r in &b.lifecycle {
        if r.id.is_empty() || r.id.len() > 255 {
            s.err(
                r.pos,
                "a lifecycle rule `id` must be 1-255 characters",
                "give each rule a short, unique id: it keeps the rule stable across runs",
            );
        } else if !ids.insert(r.id.as_str()) {
            s.err(
                r.pos,
                format!("lifecycle rule id `{}` is used twice in this bucket", r.id),
                "give each rule a unique id",
            );
        }
        let has_action = !r.transitions.is_empty()
            || r.expiration_days.is_some()
            || !r.noncurrent_transitions.is_empty()
            || r.noncurrent_expiration_days.is_some()
            || r.abort_incomplete_multipart_days.is_some();
        if !has_action {
            s.err(r.pos, format!("lifecycle rule `{}` does nothing", r.id), "add transitions, expiration_days, noncurrent_expiration_days or abort_incomplete_multipart_days");
        }
        for (list, noncurrent) in [(&r.transitions, false), (&r.noncurrent_transitions, true)] {
            let days_key = if noncurrent { "NoncurrentDays" } else { "Days" };
            let mut prev: Option<&Transition> = None;
            let mut classes = BTreeSet::new();
            // S3 takes transitions in any order; labctl sends them sorted by day.
            let mut list: Vec<&Transition> = list.iter().collect();
            list.sort_by_key(|t| t.days);
            for t in list {
                if !STORAGE_CLASSES.contains(&t.storage_class.as_str()) {
                    let hint = match t.storage_class.as_str() {
                        "GLACIER_FLEXIBLE_RETRIEVAL" => "S3 calls it `GLACIER`".to_owned(),
                        "STANDARD" => {
                            "objects start in STANDARD; transitions go to colder classes".to_owned()
                        }
                        _ => format!("use one of {}", STORAGE_CLASSES.join(", ")),
                    };
                    s.err(
                        t.class_pos,
                        format!("unknown storage class `{}`", t.storage_class),
                        hint,
                    );
                    continue;
                }
                if t.days < 0 {
                    s.err(
                        t.pos,
                        format!("transition days {} is negative", t.days),
                        "use 0 or more days",
                    );
                }
                if matches!(t.storage_class.as_str(), "STANDARD_IA" | "ONEZONE_IA") && t.days < 30 {
                    s.err(t.pos, format!("'{days_key}' for {} must be at least 30, found {}", t.storage_class, t.days), "S3 keeps objects in STANDARD at least 30 days before an IA class: use 30 or more");
                }
                if !classes.insert(t.storage_class.as_str()) {
                    s.err(
                        t.pos,
                        format!(
                            "storage class {} appears twice in one rule",
                            t.storage_class
                        ),
                        "each class may be a transition target once per rule",
                    );
                }
                if let Some(p) = prev {
                    if class_rank(&t.storage_class) <= class_rank(&p.storage_class)
                        || (p.storage_class == "ONEZONE_IA" && t.storage_class == "GLACIER_IR")
                    {
                        s.err(
                            t.pos,
                            format!(
                                "transition from {} to {} goes up the storage-class waterfall",
                                p.storage_class, t.storage_class
                            ),
                            format!(
                                "order transitions from warm to cold: {}",
                                STORAGE_CLASSES.join(" -> ")
                            ),
                        );
                    } else if t.days <= p.days {
                        s.err(
                            t.pos,
                            format!(
                                "transition to {} at day {} is not after the one to {} at day {}",
                                t.storage_class, t.days, p.storage_class, p.days
                            ),
                            "give each later transition more days than the one before",
                        );
                    } else if matches!(p.storage_class.as_str(), "STANDARD_IA" | "ONEZONE_IA")
                        && t.days - p.days < 30
                    {
                        s.err(
                            t.pos,
                            format!(
                                "objects must stay 30 days in {} before moving to {}",
                                p.storage_class, t.storage_class
                            ),
                            format!("use {} days or more", p.days + 30),
                        );
                    }
                }
                prev = Some(t);
            }
        }
        let last = |l: &Vec<Transition>| l.iter().map(|t| t.days).max();
        if let Some(e) = r.expiration_days {
            if e < 1 {
                s.err(
                    r.keys.at("expiration_days", r.pos),
                    format!("expiration_days must be at least 1, found {e}"),
                    "use 1 or more days",
                );
            } else if let Some(t) = last(&r.transitions).filter(|t| e <= *t) {
                s.err(r.keys.at("expiration_days", r.pos), format!("rule `{}` expires objects at day {e}, not after its last transition at day {t}", r.id), format!("set expiration_days above {t}, or drop the transition"));
            }
        }
        if let Some(e) = r.noncurrent_expiration_days {
            if e < 1 {
                s.err(
                    r.keys.at("noncurrent_expiration_days", r.pos),
                    format!("noncurrent_expiration_days must be at least 1, found {e}"),
                    "use 1 or more days",
                );
            } else if let Some(t) = last(&r.noncurrent_transitions).filter(|t| e <= *t) {
                s.err(r.keys.at("noncurrent_expiration_days", r.pos), format!("rule `{}` expires noncurrent versions at day {e}, not after their last transition at day {t}", r.id), format!("set noncurrent_expiration_days above {t}"));
            }
        }
        if let Some(a) = r.abort_incomplete_multipart_days
            && a < 1
        {
            s.err(
                r.keys.at("abort_incomplete_multipart_days", r.pos),
                format!("abort_incomplete_multipart_days must be at least 1, found {a}"),
                "use 1 or more days",
            );
        }
    }
}

//! The rules of `checks:`, checked before any AWS call: declared buckets, keys that
//! hold `${run}` (so a run only ever touches what it made), contents that fit the key,
//! expectations that can be decided.

use super::route::{Change, route};
use super::{Check, Content, RUN, Target, fill};
use crate::kind::Lab;
use crate::template::Vars;
use crate::yaml::diag::{Sink, did_you_mean};

/// The run id `verify` makes has this many characters; keys are checked with one as long.
pub const RUN_ID_LEN: usize = 12;
const STAND_IN_RUN: &str = "0123456789ab";

pub fn checks(lab: &Lab, vars: &Vars, s: &mut Sink) {
    for (name, c) in &lab.checks {
        check(lab, vars, name, c, s);
    }
}

fn check(lab: &Lab, vars: &Vars, name: &str, c: &Check, s: &mut Sink) {
    if name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        s.err(
            c.name_pos,
            format!("check name `{name}` is not valid"),
            "use up to 64 letters, digits, '-' and '_': `labctl verify NAME` runs it",
        );
    }
    let put_key = target(lab, vars, &c.put.at, "put", s);
    if let Some(k) = &put_key {
        let folder = k.ends_with('/');
        if folder && c.put.content != Content::Empty {
            s.err(
                c.put.keys.at("body", c.put.at.pos),
                "a key ending in `/` is a folder: it has no content",
                "remove `body`/`sample`, or end the key with a file name",
            );
        }
    }
    if c.expect.is_empty() && c.expect_absent.is_empty() {
        s.err(
            c.pos,
            format!("check `{name}` expects nothing"),
            "add `expect:` (objects that must appear) or `expect_absent:` (objects that must not)",
        );
    }
    let has_content = c.put.content != Content::Empty;
    let is_image = matches!(c.put.content, Content::Sample(_));
    let mut seen: Vec<(String, String)> = Vec::new();
    for e in &c.expect {
        target(lab, vars, &e.at, "expect", s);
        seen.push((e.at.bucket.clone(), e.at.key.clone()));
        if e.same_as_put && e.body.is_some() {
            s.err(
                e.keys.at("body", e.at.pos),
                "`same_as_put` and `body` both say what the object holds",
                "keep one",
            );
        }
        if e.smaller_than_put && !has_content {
            s.err(
                e.keys.at("smaller_than_put", e.at.pos),
                "nothing is smaller than an empty put",
                "give the put a `body` or a `sample`",
            );
        }
        if e.same_dimensions && (e.image.is_none() || !is_image) {
            s.err(
                e.keys.at("same_dimensions", e.at.pos),
                "`same_dimensions` compares two images",
                "put a `sample:` image and expect `image: jpeg`",
            );
        }
    }
    for a in &c.expect_absent {
        target(lab, vars, a, "expect_absent", s);
        if seen.contains(&(a.bucket.clone(), a.key.clone())) {
            s.err(
                a.pos,
                "this object is both expected and expected absent",
                "keep one of the two",
            );
        }
        if a.bucket == c.put.at.bucket && a.key == c.put.at.key {
            s.err(
                a.pos,
                "the put itself is expected absent: only a function that deletes it could pass",
                "name another object",
            );
        }
    }
    // A check whose put fires nothing can only pass on its own put: say so now.
    if let Some(key) = put_key
        && let Some(bucket) = vars.buckets.get(&c.put.at.bucket)
    {
        let fires = route(lab, &vars.buckets, &Change::created(bucket, &key, "Put"));
        let elsewhere = c.expect.iter().any(|e| {
            (e.at.bucket.as_str(), e.at.key.as_str())
                != (c.put.at.bucket.as_str(), c.put.at.key.as_str())
        });
        if elsewhere && fires.iter().all(|f| !f.fires()) {
            let why: Vec<String> = fires
                .iter()
                .map(|f| format!("{} ({})", f.function, f.miss.as_deref().unwrap_or_default()))
                .collect();
            s.warn(
                c.put.at.pos,
                format!("check `{name}`: no function of the lab fires on this put"),
                if why.is_empty() {
                    format!("no trigger is on bucket `{}`", c.put.at.bucket)
                } else {
                    format!("triggers on `{}`: {}", c.put.at.bucket, why.join("; "))
                },
            );
        }
    }
}

/// Checks one object reference; returns its key as a run would make it.
fn target(lab: &Lab, vars: &Vars, t: &Target, what: &str, s: &mut Sink) -> Option<String> {
    if !lab.buckets.contains_key(&t.bucket) {
        let known: Vec<&str> = lab.buckets.keys().map(String::as_str).collect();
        let help = did_you_mean(&t.bucket, &known)
            .map(|m| format!("did you mean `{m}`?"))
            .unwrap_or_else(|| {
                if known.is_empty() {
                    "declare the bucket under `buckets:`".into()
                } else {
                    format!("name one of the lab's buckets: {}", known.join(", "))
                }
            });
        s.err(
            t.pos,
            format!(
                "`{what}` names bucket `{}`, which the lab does not declare",
                t.bucket
            ),
            help,
        );
    }
    if !t.key.contains(RUN) {
        s.err(
            t.pos,
            format!("the key `{}` does not hold `{RUN}`", t.key),
            format!("put `{RUN}` in it (e.g. `verify/{RUN}/{}`): each run's objects are its own, and cleanup removes exactly them", t.key.trim_start_matches('/')),
        );
        return None;
    }
    let key = match fill(&t.key, STAND_IN_RUN, vars) {
        Ok(k) => k,
        Err(e) => {
            s.err(
                t.pos,
                e,
                "keys may use ${run}, ${lab}, ${account_id}, ${region} and (with a roster) ${student}",
            );
            return None;
        }
    };
    debug_assert_eq!(STAND_IN_RUN.len(), RUN_ID_LEN);
    if key.len() > 1024 {
        s.err(
            t.pos,
            format!("the key is {} bytes; S3 keys are at most 1024", key.len()),
            "shorten it",
        );
    }
    Some(key)
}

//! The `buckets:` section.

use std::collections::BTreeMap;

use super::{Bucket, Encryption, LifecycleRule, Transition};
use crate::model::Pos;
use crate::yaml::Node;
use crate::yaml::decode::{Decoder, Fields, boolean, fields, int32, named, seq, string};
use crate::yaml::diag::Sink;

pub(super) fn buckets(top: &Fields<'_>, d: &mut Decoder) -> BTreeMap<String, Bucket> {
    let mut out = BTreeMap::new();
    if let Some(n) = top.get("buckets") {
        for (k, v) in named(n, "`buckets`", &mut d.sink) {
            if let Some(b) = bucket(&k.name, k.pos, v, d) {
                out.insert(k.name.clone(), b);
            }
        }
    }
    out
}

fn bucket(name: &str, at: Pos, node: &Node, d: &mut Decoder) -> Option<Bucket> {
    let s = &mut d.sink;
    let what = format!("bucket `{name}`");
    let f = fields(
        node,
        &what,
        &[
            "name",
            "versioning",
            "block_public_access",
            "allow_public",
            "encryption",
            "kms_key",
            "lifecycle",
            "tags",
        ],
        s,
    )?;
    let name_node = f.required("name", &what, s);
    let bucket_name = name_node
        .and_then(|n| string(n, "a bucket `name`", s))
        .unwrap_or_default();
    let versioning = f
        .get("versioning")
        .and_then(|n| boolean(n, "`versioning`", s))
        .unwrap_or(false);
    let bpa = f
        .get("block_public_access")
        .and_then(|n| boolean(n, "`block_public_access`", s))
        .unwrap_or(true);
    let allow_public = f
        .get("allow_public")
        .and_then(|n| boolean(n, "`allow_public`", s))
        .unwrap_or(false);
    if !bpa && !allow_public {
        s.err(
            f.get("block_public_access").map(|n| n.pos).unwrap_or(f.pos),
            format!("{what} turns off Block Public Access without an explicit opt-in"),
            "add `allow_public: true` to this bucket if it really must be public, or remove `block_public_access: false`",
        );
    }
    let kms_key = f.get("kms_key").and_then(|n| string(n, "`kms_key`", s));
    let encryption = match f
        .get("encryption")
        .and_then(|n| string(n, "`encryption`", s).map(|v| (v, n.pos)))
    {
        None => {
            if kms_key.is_some() {
                s.err(
                    f.pos,
                    "`kms_key` is set but `encryption` is not `aws:kms`",
                    "add `encryption: aws:kms` or remove `kms_key`",
                );
            }
            Encryption::Aes256
        }
        Some((v, _)) if v == "AES256" => Encryption::Aes256,
        Some((v, _)) if v == "aws:kms" => Encryption::Kms { key: kms_key },
        Some((v, p)) => {
            s.err(
                p,
                format!("unknown encryption `{v}`"),
                "use `AES256` (SSE-S3, the default) or `aws:kms`",
            );
            Encryption::Aes256
        }
    };
    let mut lifecycle = Vec::new();
    if let Some(n) = f.get("lifecycle") {
        for item in seq(n, "`lifecycle`", s) {
            if let Some(r) = lifecycle_rule(item, s) {
                lifecycle.push(r);
            }
        }
    }
    let bucket_tags = f.get("tags").map(|n| d.tags(n, &what));
    Some(Bucket {
        pos: at,
        name: bucket_name,
        name_pos: name_node.map(|n| n.pos).unwrap_or(node.pos),
        versioning,
        block_public_access: bpa,
        encryption,
        lifecycle,
        tags: bucket_tags.unwrap_or_default(),
    })
}

fn lifecycle_rule(node: &Node, s: &mut Sink) -> Option<LifecycleRule> {
    let f = fields(
        node,
        "a lifecycle rule",
        &[
            "id",
            "enabled",
            "prefix",
            "transitions",
            "expiration_days",
            "noncurrent_transitions",
            "noncurrent_expiration_days",
            "abort_incomplete_multipart_days",
        ],
        s,
    )?;
    let id = f
        .required("id", "a lifecycle rule", s)
        .and_then(|n| string(n, "a rule `id`", s))
        .unwrap_or_default();
    let transitions = |key: &str, s: &mut Sink| -> Vec<Transition> {
        let Some(n) = f.get(key) else {
            return Vec::new();
        };
        seq(n, &format!("`{key}`"), s)
            .iter()
            .filter_map(|t| {
                let tf = fields(t, "a transition", &["days", "storage_class"], s)?;
                let days = tf
                    .required("days", "a transition", s)
                    .and_then(|n| int32(n, "`days`", s));
                let class = tf
                    .required("storage_class", "a transition", s)
                    .and_then(|n| string(n, "`storage_class`", s));
                Some(Transition {
                    pos: t.pos,
                    days: days?.0,
                    storage_class: class?,
                })
            })
            .collect()
    };
    let tr = transitions("transitions", s);
    let ntr = transitions("noncurrent_transitions", s);
    let days = |key: &str, s: &mut Sink| {
        f.get(key)
            .and_then(|n| int32(n, &format!("`{key}`"), s))
            .map(|(v, _)| v)
    };
    Some(LifecycleRule {
        pos: node.pos,
        keys: f.keys(),
        id,
        enabled: f
            .get("enabled")
            .and_then(|n| boolean(n, "`enabled`", s))
            .unwrap_or(true),
        prefix: f.get("prefix").and_then(|n| string(n, "`prefix`", s)),
        transitions: tr,
        expiration_days: days("expiration_days", s),
        noncurrent_transitions: ntr,
        noncurrent_expiration_days: days("noncurrent_expiration_days", s),
        abort_incomplete_multipart_days: days("abort_incomplete_multipart_days", s),
    })
}

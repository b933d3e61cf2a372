//! The `buckets:` section.

use std::collections::BTreeMap;

use super::{Bucket, Encryption, LifecycleRule, Transition};
use crate::model::Pos;
use crate::yaml::Node;
use crate::yaml::decode::{Decoder, Fields, boolean, fields, int32, named, seq, string};
use crate::yaml::diag::Sink;
use crate::yaml::shape::{Field, TAGS, Ty};

/// The family's top-level key.
pub(super) const SECTIONS: &[Field] = &[Field::opt(
    "buckets",
    Ty::Named(&Ty::Obj(BUCKET)),
    "S3 buckets, by the name the rest of the lab calls them (`${buckets.NAME.name}`).",
)];

const BUCKET: &[Field] = &[
    Field::req(
        "name",
        Ty::Str,
        "The bucket's name in AWS: globally unique, so usually with `${account_id}` or `${lab}`.",
    ),
    Field::opt(
        "versioning",
        Ty::Bool,
        "Keep every version of every object (default false).",
    ),
    Field::opt(
        "block_public_access",
        Ty::Bool,
        "S3 Block Public Access (default true); false needs `allow_public: true`.",
    ),
    Field::opt(
        "allow_public",
        Ty::Bool,
        "The explicit opt-in to a public bucket.",
    ),
    Field::opt(
        "encryption",
        Ty::OneOf(&["AES256", "aws:kms"]),
        "Default encryption: `AES256` (SSE-S3, the default) or `aws:kms`.",
    ),
    Field::opt(
        "kms_key",
        Ty::Str,
        "The KMS key for `encryption: aws:kms` (default: aws/s3).",
    ),
    Field::opt(
        "lifecycle",
        Ty::List(&Ty::Obj(RULE)),
        "Lifecycle rules: transitions and expirations.",
    ),
    TAGS,
];

const RULE: &[Field] = &[
    Field::req("id", Ty::Str, "The rule's id, unique in the bucket."),
    Field::opt(
        "enabled",
        Ty::Bool,
        "Whether S3 applies the rule (default true).",
    ),
    Field::opt(
        "prefix",
        Ty::Str,
        "Only keys starting with this (default: every key).",
    ),
    Field::opt(
        "transitions",
        Ty::List(&Ty::Obj(TRANSITION)),
        "Moves to cheaper storage classes.",
    ),
    Field::opt(
        "expiration_days",
        Ty::Int,
        "Deletes current objects this many days after creation.",
    ),
    Field::opt(
        "noncurrent_transitions",
        Ty::List(&Ty::Obj(TRANSITION)),
        "Moves older versions (versioned buckets).",
    ),
    Field::opt(
        "noncurrent_expiration_days",
        Ty::Int,
        "Deletes older versions this many days after they stopped being current.",
    ),
    Field::opt(
        "abort_incomplete_multipart_days",
        Ty::Int,
        "Aborts unfinished multipart uploads after this many days.",
    ),
];

const TRANSITION: &[Field] = &[
    Field::req(
        "days",
        Ty::Int,
        "Days after creation (or after becoming noncurrent).",
    ),
    Field::req(
        "storage_class",
        Ty::OneOf(super::validate::STORAGE_CLASSES),
        "The storage class to move to.",
    ),
];

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
    let f = fields(node, &what, BUCKET, s)?;
    let name_node = f.get("name");
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
    let f = fields(node, "a lifecycle rule", RULE, s)?;
    let id = f
        .get("id")
        .and_then(|n| string(n, "a rule `id`", s))
        .unwrap_or_default();
    let transitions = |key: &str, s: &mut Sink| -> Vec<Transition> {
        let Some(n) = f.get(key) else {
            return Vec::new();
        };
        seq(n, &format!("`{key}`"), s)
            .iter()
            .filter_map(|t| {
                let tf = fields(t, "a transition", TRANSITION, s)?;
                let days = tf.get("days").and_then(|n| int32(n, "`days`", s));
                let class_node = tf.get("storage_class");
                let class = class_node.and_then(|n| string(n, "`storage_class`", s));
                Some(Transition {
                    pos: t.pos,
                    class_pos: class_node.map(|n| n.pos).unwrap_or(t.pos),
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

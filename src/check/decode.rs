//! The `checks:` section's shape.

use std::collections::BTreeMap;

use super::{Check, Content, Expect, ImageFormat, Put, Sample, Target};
use crate::yaml::Node;
use crate::yaml::decode::{Decoder, Fields, boolean, fields, named, seq, string, strings};
use crate::yaml::diag::{Sink, did_you_mean};
use crate::yaml::shape::{Field, Ty};

/// The lab file's own top-level key for checks.
pub const SECTION: Field = Field::opt(
    "checks",
    Ty::Named(&Ty::Obj(CHECK)),
    "What `labctl verify` proves: put an object, expect what the lab makes of it.",
);

const CHECK: &[Field] = &[
    Field::req("put", Ty::Obj(PUT), "The object the check uploads."),
    Field::opt(
        "expect",
        Ty::List(&Ty::Obj(EXPECT)),
        "Objects that must appear, and what they hold.",
    ),
    Field::opt(
        "expect_absent",
        Ty::List(&Ty::Obj(TARGET)),
        "Objects that must not appear.",
    ),
];

const BUCKET: Field = Field::req("bucket", Ty::Str, "A bucket of this lab.");
const KEY: Field = Field::req(
    "key",
    Ty::Str,
    "The object's key; ending in `/` is a folder.",
);

const TARGET: &[Field] = &[BUCKET, KEY];

const PUT: &[Field] = &[
    BUCKET,
    KEY,
    Field::opt("body", Ty::Str, "The object's text."),
    Field::opt(
        "sample",
        Ty::OneOf(super::Sample::NAMES),
        "A generated file instead of a body.",
    ),
    Field::opt("content_type", Ty::Str, "Its Content-Type."),
];

const EXPECT: &[Field] = &[
    BUCKET,
    KEY,
    Field::opt(
        "same_as_put",
        Ty::Bool,
        "It holds exactly the put object's bytes.",
    ),
    Field::opt("body", Ty::Str, "It holds exactly this text."),
    Field::opt("contains", Ty::Strings, "Its text contains each of these."),
    Field::opt("image", Ty::Str, "It is an image of this format: `jpeg`."),
    Field::opt(
        "smaller_than_put",
        Ty::Bool,
        "It is smaller than the put object.",
    ),
    Field::opt(
        "same_dimensions",
        Ty::Bool,
        "An image as wide and high as the put one.",
    ),
];

pub fn checks(top: &Fields<'_>, d: &mut Decoder) -> BTreeMap<String, Check> {
    let mut out = BTreeMap::new();
    let s = &mut d.sink;
    if let Some(n) = top.get("checks") {
        for (k, v) in named(n, "`checks`", s) {
            if let Some(c) = check(&k.name, k.pos, v, s) {
                out.insert(k.name.clone(), c);
            }
        }
    }
    out
}

fn check(name: &str, name_pos: crate::model::Pos, node: &Node, s: &mut Sink) -> Option<Check> {
    let what = format!("check `{name}`");
    let f = fields(node, &what, CHECK, s)?;
    let put = f.get("put").and_then(|n| put(n, s));
    let expect = f
        .get("expect")
        .map(|n| {
            seq(n, "`expect`", s)
                .iter()
                .filter_map(|e| expect(e, s))
                .collect()
        })
        .unwrap_or_default();
    let expect_absent = f
        .get("expect_absent")
        .map(|n| {
            seq(n, "`expect_absent`", s)
                .iter()
                .filter_map(|e| {
                    let f = fields(e, "an `expect_absent` entry", TARGET, s)?;
                    target(&f, s)
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Check {
        name_pos,
        pos: node.pos,
        put: put?,
        expect,
        expect_absent,
    })
}

fn target(f: &Fields<'_>, s: &mut Sink) -> Option<Target> {
    let bucket = f.get("bucket").and_then(|n| string(n, "`bucket`", s));
    let key = f
        .get("key")
        .and_then(|n| string(n, "`key`", s).map(|k| (k, n.pos)));
    let (key, pos) = key?;
    Some(Target {
        pos,
        bucket: bucket?,
        key,
    })
}

fn put(node: &Node, s: &mut Sink) -> Option<Put> {
    let what = "`put`";
    let f = fields(node, what, PUT, s)?;
    let at = target(&f, s);
    let body = f.get("body").and_then(|n| string(n, "`body`", s));
    let mut bad_sample = false;
    let sample = f.get("sample").and_then(|n| {
        let v = string(n, "`sample`", s)?;
        let found = Sample::parse(&v);
        if found.is_none() {
            let names: Vec<&str> = Sample::ALL.iter().map(|x| x.name()).collect();
            let help = did_you_mean(&v, &names)
                .map(|m| format!("did you mean `{m}`?"))
                .unwrap_or_else(|| format!("samples: {}", names.join(", ")));
            s.err(n.pos, format!("unknown sample `{v}`"), help);
            bad_sample = true;
        }
        found
    });
    // Without its content the put cannot be checked further.
    if bad_sample {
        return None;
    }
    let content = match (body, sample) {
        (Some(_), Some(_)) => {
            s.err(
                f.get("sample").map(|n| n.pos).unwrap_or(f.pos),
                "`put` has both `body` and `sample`",
                "keep one: `body` is text, `sample` a generated file",
            );
            Content::Empty
        }
        (Some(b), None) => Content::Text(b),
        (None, Some(x)) => Content::Sample(x),
        (None, None) => Content::Empty,
    };
    let content_type = f
        .get("content_type")
        .and_then(|n| string(n, "`content_type`", s));
    Some(Put {
        at: at?,
        keys: f.keys(),
        content,
        content_type,
    })
}

fn expect(node: &Node, s: &mut Sink) -> Option<Expect> {
    let what = "an `expect` entry";
    let f = fields(node, what, EXPECT, s)?;
    let at = target(&f, s);
    let flag = |k: &str, s: &mut Sink| {
        f.get(k)
            .and_then(|n| boolean(n, &format!("`{k}`"), s))
            .unwrap_or(false)
    };
    let same_as_put = flag("same_as_put", s);
    let smaller_than_put = flag("smaller_than_put", s);
    let same_dimensions = flag("same_dimensions", s);
    let body = f.get("body").and_then(|n| string(n, "`body`", s));
    let contains = f
        .get("contains")
        .map(|n| {
            strings(n, "`contains`", s)
                .into_iter()
                .map(|(v, _)| v)
                .collect()
        })
        .unwrap_or_default();
    let image = f.get("image").and_then(|n| {
        let v = string(n, "`image`", s)?;
        match v.to_ascii_lowercase().as_str() {
            "jpeg" | "jpg" => Some(ImageFormat::Jpeg),
            _ => {
                s.err(
                    n.pos,
                    format!("unknown image format `{v}`"),
                    "labctl checks `image: jpeg`",
                );
                None
            }
        }
    });
    Some(Expect {
        at: at?,
        keys: f.keys(),
        same_as_put,
        body,
        contains,
        image,
        smaller_than_put,
        same_dimensions,
    })
}

//! The `layers:` and `functions:` sections (a function's `triggers` included).

use std::collections::BTreeMap;
use std::path::Path;

use super::{Arch, Function, Layer, LayerSource, Spec, Trigger, Via};
use crate::model::Pos;
use crate::yaml::decode::{Decoder, Fields, fields, int32, named, seq, string, strings};
use crate::yaml::diag::Sink;
use crate::yaml::shape::{Field, TAGS, Ty};
use crate::yaml::{Node, Value};

pub(super) const SECTIONS: &[Field] = &[
    Field::opt(
        "layers",
        Ty::Named(&Ty::Obj(LAYER)),
        "Lambda layers, built from pip requirements or uploaded from a zip.",
    ),
    Field::opt(
        "functions",
        Ty::Named(&Ty::Obj(FUNCTION)),
        "Lambda functions; each one's name in AWS is `<lab>-<name>`.",
    ),
];

const ARCHITECTURE: Ty = Ty::OneOf(&["x86_64", "arm64"]);

const LAYER: &[Field] = &[
    Field::opt(
        "requirements",
        Ty::Strings,
        "pip requirements to build the layer from, pinned: `Pillow==11.1.0`.",
    ),
    Field::opt(
        "zip",
        Ty::Str,
        "A layer zip to upload as it is, relative to the lab file.",
    ),
    Field::req(
        "runtimes",
        Ty::Strings,
        "The runtimes it is built for, such as `python3.13`.",
    ),
    Field::opt(
        "architecture",
        ARCHITECTURE,
        "`x86_64` (the default) or `arm64`.",
    ),
];

const FUNCTION: &[Field] = &[
    Field::req(
        "code",
        Ty::Str,
        "The handler's folder or file, relative to the lab file.",
    ),
    Field::req(
        "handler",
        Ty::Str,
        "`module.function`, such as `backup.handler`.",
    ),
    Field::opt(
        "runtime",
        Ty::OneOf(super::validate::RUNTIMES),
        "The Lambda runtime (default python3.13).",
    ),
    Field::opt(
        "architecture",
        ARCHITECTURE,
        "`x86_64` (the default) or `arm64`.",
    ),
    Field::opt("timeout", Ty::Int, "Seconds, 1-900 (default 3)."),
    Field::opt("memory", Ty::Int, "MB, 128-10240 (default 128)."),
    Field::opt(
        "environment",
        Ty::Pairs,
        "Environment variables, `NAME: value`.",
    ),
    Field::opt(
        "layers",
        Ty::Strings,
        "Layers of this lab (by their name here) or layer version ARNs.",
    ),
    Field::opt(
        "triggers",
        Ty::List(&Ty::Obj(TRIGGER)),
        "S3 events that invoke it, directly or through EventBridge.",
    ),
    TAGS,
];

const TRIGGER: &[Field] = &[
    Field::req(
        "bucket",
        Ty::Str,
        "The bucket of this lab whose events invoke the function.",
    ),
    Field::opt(
        "events",
        Ty::Strings,
        "S3 event types (default `s3:ObjectCreated:*`).",
    ),
    Field::opt("prefix", Ty::Str, "Only keys that start with this."),
    Field::opt(
        "suffix",
        Ty::Strings,
        "Only keys that end with this (or one of these).",
    ),
    Field::opt(
        "via",
        Ty::OneOf(&["s3", "eventbridge"]),
        "`s3` (a bucket notification, the default) or `eventbridge` (a rule).",
    ),
];

pub(super) fn spec(top: &Fields<'_>, d: &mut Decoder) -> Spec {
    let mut layers = BTreeMap::new();
    if let Some(n) = top.get("layers") {
        let base = d.base_dir.clone();
        for (k, v) in named(n, "`layers`", &mut d.sink) {
            if let Some(l) = layer(&k.name, k.pos, v, &base, &mut d.sink) {
                layers.insert(k.name.clone(), l);
            }
        }
    }
    let mut functions = BTreeMap::new();
    if let Some(n) = top.get("functions") {
        for (k, v) in named(n, "`functions`", &mut d.sink) {
            if let Some(fun) = function(&k.name, k.pos, v, d) {
                functions.insert(k.name.clone(), fun);
            }
        }
    }
    Spec { layers, functions }
}

fn arch(node: &Node, s: &mut Sink) -> Arch {
    match string(node, "`architecture`", s).as_deref() {
        Some("x86_64") | None => Arch::X86_64,
        Some("arm64") => Arch::Arm64,
        Some(other) => {
            let hint = if other == "aarch64" {
                "Lambda calls it `arm64`"
            } else {
                "use `x86_64` or `arm64`"
            };
            s.err(node.pos, format!("unknown architecture `{other}`"), hint);
            Arch::X86_64
        }
    }
}

fn layer(name: &str, at: Pos, node: &Node, base: &Path, s: &mut Sink) -> Option<Layer> {
    let what = format!("layer `{name}`");
    let f = fields(node, &what, LAYER, s)?;
    // Read before the source, so a layer missing one still reports its other keys.
    let runtimes = f
        .get("runtimes")
        .map(|n| {
            strings(n, "`runtimes`", s)
                .into_iter()
                .map(|(v, _)| v)
                .collect()
        })
        .unwrap_or_default();
    let architecture = f
        .get("architecture")
        .map(|n| arch(n, s))
        .unwrap_or(Arch::X86_64);
    let source = match (f.get("requirements"), f.get("zip")) {
        (Some(r), None) => LayerSource::Requirements(
            strings(r, "`requirements`", s)
                .into_iter()
                .map(|(v, _)| v)
                .collect(),
        ),
        (None, Some(z)) => LayerSource::Zip(base.join(string(z, "`zip`", s).unwrap_or_default())),
        (Some(_), Some(z)) => {
            s.err(
                z.pos,
                format!("{what} has both `requirements` and `zip`"),
                "keep one: labctl either builds the layer from requirements or uploads your zip",
            );
            return None;
        }
        (None, None) => {
            s.err(
                node.pos,
                format!("{what} has neither `requirements` nor `zip`"),
                "add `requirements: [Package==1.2.3]` or `zip: path/to/layer.zip`",
            );
            return None;
        }
    };
    Some(Layer {
        pos: at,
        keys: f.keys(),
        source,
        runtimes,
        architecture,
    })
}

fn function(name: &str, at: Pos, node: &Node, d: &mut Decoder) -> Option<Function> {
    let base = d.base_dir.clone();
    let s = &mut d.sink;
    let what = format!("function `{name}`");
    let f = fields(node, &what, FUNCTION, s)?;
    let code = f
        .get("code")
        .and_then(|n| string(n, "`code`", s))
        .map(|c| base.join(c))
        .unwrap_or_default();
    let handler = f
        .get("handler")
        .and_then(|n| string(n, "`handler`", s))
        .unwrap_or_default();
    let runtime = f
        .get("runtime")
        .and_then(|n| string(n, "`runtime`", s))
        .unwrap_or_else(|| "python3.13".into());
    let architecture = f
        .get("architecture")
        .map(|n| arch(n, s))
        .unwrap_or(Arch::X86_64);
    let timeout = f
        .get("timeout")
        .and_then(|n| int32(n, "`timeout`", s))
        .map(|v| v.0)
        .unwrap_or(3);
    let memory = f
        .get("memory")
        .and_then(|n| int32(n, "`memory`", s))
        .map(|v| v.0)
        .unwrap_or(128);
    let mut environment = BTreeMap::new();
    if let Some(n) = f.get("environment") {
        for (k, v) in named(n, "`environment`", s) {
            let val = match &v.value {
                Value::Scalar { text, .. } => text.clone(),
                _ => {
                    s.err(
                        v.pos,
                        format!(
                            "environment variable `{}` must be a string, found {}",
                            k.name,
                            v.kind()
                        ),
                        "write `NAME: value`",
                    );
                    continue;
                }
            };
            environment.insert(k.name.clone(), val);
        }
    }
    let layers = f
        .get("layers")
        .map(|n| {
            strings(n, "`layers`", s)
                .into_iter()
                .map(|(v, _)| v)
                .collect()
        })
        .unwrap_or_default();
    let mut triggers = Vec::new();
    if let Some(n) = f.get("triggers") {
        for t in seq(n, "`triggers`", s) {
            if let Some(tr) = trigger(t, s) {
                triggers.push(tr);
            }
        }
    }
    let fn_tags = f.get("tags").map(|n| d.tags(n, &what));
    Some(Function {
        pos: at,
        keys: f.keys(),
        code,
        handler,
        runtime,
        architecture,
        timeout,
        memory,
        environment,
        layers,
        triggers,
        tags: fn_tags.unwrap_or_default(),
    })
}

fn trigger(node: &Node, s: &mut Sink) -> Option<Trigger> {
    let f = fields(node, "a trigger", TRIGGER, s)?;
    let bucket = f.get("bucket").and_then(|n| string(n, "`bucket`", s))?;
    let events = f
        .get("events")
        .map(|n| {
            strings(n, "`events`", s)
                .into_iter()
                .map(|(v, _)| v)
                .collect()
        })
        .unwrap_or_else(|| vec!["s3:ObjectCreated:*".to_owned()]);
    let prefix = f.get("prefix").and_then(|n| string(n, "`prefix`", s));
    let suffixes = f
        .get("suffix")
        .map(|n| {
            strings(n, "`suffix`", s)
                .into_iter()
                .map(|(v, _)| v)
                .collect()
        })
        .unwrap_or_default();
    let via = match f
        .get("via")
        .and_then(|n| string(n, "`via`", s).map(|v| (v, n.pos)))
    {
        None => Via::S3,
        Some((v, _)) if v == "s3" => Via::S3,
        Some((v, _)) if v == "eventbridge" => Via::EventBridge,
        Some((v, p)) => {
            s.err(
                p,
                format!("unknown trigger route `{v}`"),
                "use `s3` (a bucket notification, the default) or `eventbridge`",
            );
            Via::S3
        }
    };
    Some(Trigger {
        pos: node.pos,
        bucket,
        events,
        prefix,
        suffixes,
        via,
    })
}

//! Turns the YAML tree into `model::Lab`, reporting every shape problem (wrong types,
//! unknown or missing keys) instead of stopping at the first. Rules about values (names,
//! ranges, references) live in `validate`.

use std::collections::BTreeMap;
use std::path::Path;

use super::diag::{Pos, Sink, did_you_mean};
use super::yaml::{Key, Node, Value};
use crate::model::*;

/// A mapping whose keys are checked against the allowed set as they are read.
struct Fields<'a> {
    entries: Vec<(&'a Key, &'a Node)>,
    pos: Pos,
}

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| *v)
            .filter(|v| !v.is_null())
    }

    fn keys(&self) -> Keys {
        Keys(
            self.entries
                .iter()
                .map(|(k, v)| (k.name.clone(), v.pos))
                .collect(),
        )
    }

    fn required(&self, key: &str, what: &str, s: &mut Sink) -> Option<&'a Node> {
        let v = self.get(key);
        if v.is_none() {
            s.err(
                self.pos,
                format!("{what} has no `{key}`"),
                format!("add `{key}:` here"),
            );
        }
        v
    }
}

fn fields<'a>(node: &'a Node, what: &str, allowed: &[&str], s: &mut Sink) -> Option<Fields<'a>> {
    let Value::Map(entries) = &node.value else {
        s.err(
            node.pos,
            format!(
                "{what} must be a mapping of `key: value`, found {}",
                node.kind()
            ),
            "write it as `key: value` lines indented under its name",
        );
        return None;
    };
    let mut out = Vec::new();
    for (k, v) in entries {
        if allowed.contains(&k.name.as_str()) {
            out.push((k, v));
        } else {
            let help = match did_you_mean(&k.name, allowed) {
                Some(m) => format!("did you mean `{m}`?"),
                None => format!("allowed keys here: {}", allowed.join(", ")),
            };
            s.err(k.pos, format!("unknown key `{}` in {what}", k.name), help);
        }
    }
    Some(Fields {
        entries: out,
        pos: node.pos,
    })
}

/// A mapping from user-chosen names to values (buckets, functions, tags...).
fn named<'a>(node: &'a Node, what: &str, s: &mut Sink) -> Vec<(&'a Key, &'a Node)> {
    match &node.value {
        Value::Map(entries) => entries.iter().map(|(k, v)| (k, v)).collect(),
        _ if node.is_null() => Vec::new(),
        _ => {
            s.err(
                node.pos,
                format!(
                    "{what} must be a mapping of names to definitions, found {}",
                    node.kind()
                ),
                "write one `name:` per entry, indented under it",
            );
            Vec::new()
        }
    }
}

fn string(node: &Node, what: &str, s: &mut Sink) -> Option<String> {
    match &node.value {
        Value::Scalar { text, .. } if !node.is_null() => Some(text.clone()),
        _ => {
            s.err(
                node.pos,
                format!("{what} must be a string, found {}", node.kind()),
                "write a single value, quoted if it contains special characters",
            );
            None
        }
    }
}

fn boolean(node: &Node, what: &str, s: &mut Sink) -> Option<bool> {
    match &node.value {
        // YAML 1.2's core schema: true, True, TRUE (and the same for false).
        Value::Scalar { text, plain: true }
            if matches!(text.as_str(), "true" | "True" | "TRUE") =>
        {
            Some(true)
        }
        Value::Scalar { text, plain: true }
            if matches!(text.as_str(), "false" | "False" | "FALSE") =>
        {
            Some(false)
        }
        _ => {
            s.err(
                node.pos,
                format!("{what} must be true or false, found {}", describe(node)),
                "write `true` or `false` (unquoted)",
            );
            None
        }
    }
}

fn integer(node: &Node, what: &str, s: &mut Sink) -> Option<i64> {
    // YAML 1.2's core schema: decimal, 0o octal, 0x hexadecimal.
    if let Value::Scalar { text, plain: true } = &node.value
        && let Some(n) = text
            .strip_prefix("0x")
            .map(|h| i64::from_str_radix(h, 16))
            .or_else(|| text.strip_prefix("0o").map(|o| i64::from_str_radix(o, 8)))
            .unwrap_or_else(|| text.parse::<i64>())
            .ok()
    {
        return Some(n);
    }
    s.err(
        node.pos,
        format!("{what} must be a whole number, found {}", describe(node)),
        "write a number without quotes or units, e.g. `30`",
    );
    None
}

/// A number that must fit AWS's 32-bit fields; range rules are checked in `validate`.
fn int32(node: &Node, what: &str, s: &mut Sink) -> Option<(i32, Pos)> {
    let n = integer(node, what, s)?;
    match i32::try_from(n) {
        Ok(v) => Some((v, node.pos)),
        Err(_) => {
            s.err(
                node.pos,
                format!("{what} {n} is out of range"),
                "use a much smaller number",
            );
            None
        }
    }
}

fn describe(node: &Node) -> String {
    match &node.value {
        Value::Scalar { text, .. } if !node.is_null() => format!("`{text}`"),
        _ => node.kind().to_owned(),
    }
}

/// A list of strings; a single string is accepted as a one-element list.
fn strings(node: &Node, what: &str, s: &mut Sink) -> Vec<(String, Pos)> {
    match &node.value {
        Value::Seq(items) => items
            .iter()
            .filter_map(|i| string(i, what, s).map(|v| (v, i.pos)))
            .collect(),
        Value::Scalar { .. } => string(node, what, s)
            .map(|v| vec![(v, node.pos)])
            .unwrap_or_default(),
        Value::Map(_) => {
            s.err(
                node.pos,
                format!("{what} must be a list, found a mapping"),
                "write `[a, b]` or one `- item` per line",
            );
            Vec::new()
        }
    }
}

fn seq<'a>(node: &'a Node, what: &str, s: &mut Sink) -> &'a [Node] {
    match &node.value {
        Value::Seq(items) => items,
        _ => {
            s.err(
                node.pos,
                format!("{what} must be a list, found {}", node.kind()),
                "write one `- item` per entry",
            );
            &[]
        }
    }
}

pub fn tags(node: &Node, s: &mut Sink) -> Tags {
    let mut out = Tags::new();
    for (k, v) in named(node, "tags", s) {
        let value = match &v.value {
            Value::Scalar { text, .. } if !v.is_null() => text.clone(),
            _ if v.is_null() => String::new(),
            _ => {
                s.err(
                    v.pos,
                    format!(
                        "tag `{}` must have a string value, found {}",
                        k.name,
                        v.kind()
                    ),
                    "write `key: value`",
                );
                continue;
            }
        };
        out.insert(k.name.clone(), value);
    }
    out
}

/// Tag positions for validation: `(key, value, pos)`.
pub fn tag_entries(node: &Node) -> Vec<(String, String, Pos)> {
    match &node.value {
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| {
                let val = match &v.value {
                    Value::Scalar { text, .. } => text.clone(),
                    _ => String::new(),
                };
                (k.name.clone(), val, k.pos)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// One tag as written: key, value, position.
pub type TagSite = (String, String, Pos);

/// Where each tag of the document was written, for validate to point at.
#[derive(Debug, Default)]
pub struct TagSites {
    /// (what carries the tags, [(key, value, where)]).
    pub sites: Vec<(String, Vec<TagSite>)>,
}

pub struct Decoded {
    pub lab: Lab,
    pub tag_sites: TagSites,
    pub lab_pos: Pos,
    pub region_pos: Pos,
}

const TOP: &[&str] = &[
    "lab",
    "region",
    "tags",
    "buckets",
    "role",
    "layers",
    "functions",
    "network",
];

pub fn lab(root: &Node, file: &str, base_dir: &Path, s: &mut Sink) -> Option<Decoded> {
    let f = fields(root, "the lab file", TOP, s)?;
    let mut tag_sites = TagSites::default();
    let name_node = f.required("lab", "the lab file", s);
    let name = name_node
        .and_then(|n| string(n, "`lab`", s))
        .unwrap_or_default();
    let region_node = f.required("region", "the lab file", s);
    let region = region_node
        .and_then(|n| string(n, "`region`", s))
        .unwrap_or_default();
    let lab_tags = f.get("tags").map(|n| {
        tag_sites.sites.push(("lab".into(), tag_entries(n)));
        tags(n, s)
    });

    let mut buckets = BTreeMap::new();
    if let Some(n) = f.get("buckets") {
        for (k, v) in named(n, "`buckets`", s) {
            if let Some(b) = bucket(&k.name, k.pos, v, s, &mut tag_sites) {
                buckets.insert(k.name.clone(), b);
            }
        }
    }
    let role = f.get("role").and_then(|n| role(n, s, &mut tag_sites));
    let mut layers = BTreeMap::new();
    if let Some(n) = f.get("layers") {
        for (k, v) in named(n, "`layers`", s) {
            if let Some(l) = layer(&k.name, k.pos, v, base_dir, s) {
                layers.insert(k.name.clone(), l);
            }
        }
    }
    let mut functions = BTreeMap::new();
    if let Some(n) = f.get("functions") {
        for (k, v) in named(n, "`functions`", s) {
            if let Some(fun) = function(&k.name, k.pos, v, base_dir, s, &mut tag_sites) {
                functions.insert(k.name.clone(), fun);
            }
        }
    }
    let network = f.get("network").and_then(|n| network(n, s, &mut tag_sites));
    Some(Decoded {
        lab: Lab {
            name,
            region,
            tags: lab_tags.unwrap_or_default(),
            buckets,
            role,
            layers,
            functions,
            network,
            base_dir: base_dir.to_path_buf(),
            file: file.to_owned(),
        },
        tag_sites,
        lab_pos: name_node.map(|n| n.pos).unwrap_or_default(),
        region_pos: region_node.map(|n| n.pos).unwrap_or_default(),
    })
}

fn bucket(name: &str, at: Pos, node: &Node, s: &mut Sink, sites: &mut TagSites) -> Option<Bucket> {
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
    let bucket_tags = f.get("tags").map(|n| {
        sites.sites.push((what.clone(), tag_entries(n)));
        tags(n, s)
    });
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

fn role(node: &Node, s: &mut Sink, sites: &mut TagSites) -> Option<Role> {
    let f = fields(
        node,
        "`role`",
        &[
            "existing",
            "name",
            "trust",
            "managed_policies",
            "policies",
            "tags",
        ],
        s,
    )?;
    if let Some(existing) = f.get("existing") {
        if let Some((k, _)) = f
            .entries
            .iter()
            .find(|(k, v)| k.name != "existing" && !v.is_null())
        {
            s.err(k.pos, format!("`{}` cannot be combined with `existing`", k.name), "an existing role is used as it is: remove this key, or remove `existing` to have labctl create the role");
        }
        return string(existing, "`existing`", s).map(|name| Role::Existing {
            pos: existing.pos,
            name,
        });
    }
    let name = f
        .required("name", "`role`", s)
        .and_then(|n| string(n, "the role `name`", s))
        .unwrap_or_default();
    let trust = f
        .get("trust")
        .map(|n| {
            strings(n, "`trust`", s)
                .into_iter()
                .map(|(v, _)| v)
                .collect()
        })
        .unwrap_or_else(|| vec!["lambda.amazonaws.com".to_owned()]);
    let managed_policies = f
        .get("managed_policies")
        .map(|n| {
            strings(n, "`managed_policies`", s)
                .into_iter()
                .map(|(v, _)| v)
                .collect()
        })
        .unwrap_or_default();
    let mut policies = BTreeMap::new();
    if let Some(n) = f.get("policies") {
        for (k, v) in named(n, "`policies`", s) {
            let stmts = seq(v, &format!("policy `{}`", k.name), s)
                .iter()
                .filter_map(|st| statement(st, s))
                .collect();
            policies.insert(k.name.clone(), stmts);
        }
    }
    let role_tags = f.get("tags").map(|n| {
        sites.sites.push(("the role".into(), tag_entries(n)));
        tags(n, s)
    });
    Some(Role::Managed(ManagedRole {
        pos: node.pos,
        keys: f.keys(),
        name,
        trust,
        managed_policies,
        policies,
        tags: role_tags.unwrap_or_default(),
    }))
}

fn statement(node: &Node, s: &mut Sink) -> Option<Statement> {
    let f = fields(
        node,
        "a policy statement",
        &["effect", "actions", "resources", "condition"],
        s,
    )?;
    let effect = f
        .get("effect")
        .and_then(|n| string(n, "`effect`", s))
        .unwrap_or_else(|| "Allow".into());
    let actions = f
        .required("actions", "a policy statement", s)
        .map(|n| {
            strings(n, "`actions`", s)
                .into_iter()
                .map(|(v, _)| v)
                .collect()
        })
        .unwrap_or_default();
    let resources = f
        .required("resources", "a policy statement", s)
        .map(|n| {
            strings(n, "`resources`", s)
                .into_iter()
                .map(|(v, _)| v)
                .collect()
        })
        .unwrap_or_default();
    let condition = f.get("condition").map(to_json);
    Some(Statement {
        pos: node.pos,
        effect,
        actions,
        resources,
        condition,
    })
}

fn to_json(node: &Node) -> serde_json::Value {
    match &node.value {
        Value::Scalar { text, .. } => serde_json::Value::String(text.clone()),
        Value::Seq(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.name.clone(), to_json(v)))
                .collect(),
        ),
    }
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
    let f = fields(
        node,
        &what,
        &["requirements", "zip", "runtimes", "architecture"],
        s,
    )?;
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
    let runtimes = f
        .required("runtimes", &what, s)
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
    Some(Layer {
        pos: at,
        keys: f.keys(),
        source,
        runtimes,
        architecture,
    })
}

fn function(
    name: &str,
    at: Pos,
    node: &Node,
    base: &Path,
    s: &mut Sink,
    sites: &mut TagSites,
) -> Option<Function> {
    let what = format!("function `{name}`");
    let f = fields(
        node,
        &what,
        &[
            "code",
            "handler",
            "runtime",
            "architecture",
            "timeout",
            "memory",
            "environment",
            "layers",
            "triggers",
            "tags",
        ],
        s,
    )?;
    let code = f
        .required("code", &what, s)
        .and_then(|n| string(n, "`code`", s))
        .map(|c| base.join(c))
        .unwrap_or_default();
    let handler = f
        .required("handler", &what, s)
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
    let fn_tags = f.get("tags").map(|n| {
        sites.sites.push((what.clone(), tag_entries(n)));
        tags(n, s)
    });
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
    let f = fields(
        node,
        "a trigger",
        &["bucket", "events", "prefix", "suffix", "via"],
        s,
    )?;
    let bucket = f
        .required("bucket", "a trigger", s)
        .and_then(|n| string(n, "`bucket`", s))?;
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

fn network(node: &Node, s: &mut Sink, sites: &mut TagSites) -> Option<Network> {
    let f = fields(node, "`network`", &["vpc", "subnets", "security_groups"], s)?;
    if let Some(v) = f.get("vpc")
        && let Some(name) = string(v, "`vpc`", s)
        && name != "default"
    {
        s.err(
            v.pos,
            format!("vpc `{name}` is not supported"),
            "labctl builds in the region's default VPC: write `vpc: default`",
        );
    }
    let mut subnets = BTreeMap::new();
    if let Some(n) = f.get("subnets") {
        for (k, v) in named(n, "`subnets`", s) {
            let what = format!("subnet `{}`", k.name);
            let Some(sf) = fields(v, &what, &["cidr", "az", "map_public_ip", "tags"], s) else {
                continue;
            };
            let cidr_node = sf.required("cidr", &what, s);
            let cidr = cidr_node.and_then(|n| string(n, "`cidr`", s));
            let az = sf
                .required("az", &what, s)
                .and_then(|n| string(n, "`az`", s));
            let map_public_ip = sf
                .get("map_public_ip")
                .and_then(|n| boolean(n, "`map_public_ip`", s))
                .unwrap_or(false);
            let t = sf.get("tags").map(|n| {
                sites.sites.push((what.clone(), tag_entries(n)));
                tags(n, s)
            });
            if let (Some(cidr), Some(az)) = (cidr, az) {
                subnets.insert(
                    k.name.clone(),
                    Subnet {
                        pos: k.pos,
                        cidr,
                        cidr_pos: cidr_node.map(|n| n.pos).unwrap_or(v.pos),
                        az,
                        map_public_ip,
                        tags: t.unwrap_or_default(),
                    },
                );
            }
        }
    }
    let mut security_groups = BTreeMap::new();
    if let Some(n) = f.get("security_groups") {
        for (k, v) in named(n, "`security_groups`", s) {
            let what = format!("security group `{}`", k.name);
            let Some(gf) = fields(v, &what, &["description", "ingress", "egress", "tags"], s)
            else {
                continue;
            };
            let description = gf
                .required("description", &what, s)
                .and_then(|n| string(n, "`description`", s))
                .unwrap_or_default();
            let rules = |key: &str, s: &mut Sink| -> Vec<SgRule> {
                gf.get(key)
                    .map(|n| {
                        seq(n, &format!("`{key}`"), s)
                            .iter()
                            .filter_map(|r| sg_rule(r, s))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let ingress = rules("ingress", s);
            let egress = gf.get("egress").map(|_| rules("egress", s));
            let t = gf.get("tags").map(|n| {
                sites.sites.push((what.clone(), tag_entries(n)));
                tags(n, s)
            });
            security_groups.insert(
                k.name.clone(),
                SecurityGroup {
                    pos: k.pos,
                    keys: gf.keys(),
                    description,
                    ingress,
                    egress,
                    tags: t.unwrap_or_default(),
                },
            );
        }
    }
    Some(Network {
        pos: node.pos,
        subnets,
        security_groups,
    })
}

fn sg_rule(node: &Node, s: &mut Sink) -> Option<SgRule> {
    let f = fields(
        node,
        "a security group rule",
        &[
            "protocol",
            "port",
            "ports",
            "cidr",
            "group",
            "allow_world",
            "description",
        ],
        s,
    )?;
    let protocol = f
        .required("protocol", "a security group rule", s)
        .and_then(|n| string(n, "`protocol`", s).map(|p| (p, n.pos)))?;
    let protocol = match protocol.0.to_ascii_lowercase().as_str() {
        "tcp" | "6" => "tcp".to_owned(),
        "udp" | "17" => "udp".to_owned(),
        "icmp" | "1" => "icmp".to_owned(),
        "icmpv6" | "58" => "icmpv6".to_owned(),
        "all" | "-1" => "-1".to_owned(),
        other => {
            s.err(
                protocol.1,
                format!("unknown protocol `{other}`"),
                "use `tcp`, `udp`, `icmp`, `icmpv6` or `all`",
            );
            return None;
        }
    };
    let (from_port, to_port) = match (f.get("port"), f.get("ports")) {
        (Some(_), Some(p)) => {
            s.err(
                p.pos,
                "a rule has both `port` and `ports`",
                "use `port: 22` for one port or `ports: 60000-61000` for a range",
            );
            return None;
        }
        (Some(p), _) | (_, Some(p)) if protocol == "-1" => {
            s.err(
                p.pos,
                "protocol `all` takes no port: it opens every port",
                "remove the port, or use `protocol: tcp` (or udp) with it",
            );
            return None;
        }
        // ICMP has types and codes, not ports: `port: 8` is type 8 with any code,
        // `ports: 3-4` is type 3 code 4 (EC2's FromPort and ToPort).
        (Some(p), None) if protocol.starts_with("icmp") => {
            let (v, pos) = int32(p, "`port`", s)?;
            check_icmp(v, 0, pos, s);
            (v, -1)
        }
        (Some(p), None) => {
            let (v, pos) = int32(p, "`port`", s)?;
            check_port(v, pos, s);
            (v, v)
        }
        (None, Some(p)) => {
            let text = match &p.value {
                Value::Scalar { text, .. } => text.clone(),
                _ => String::new(),
            };
            let parsed = text.split_once('-').and_then(|(a, b)| {
                Some((a.trim().parse::<i32>().ok()?, b.trim().parse::<i32>().ok()?))
            });
            let Some((a, b)) = parsed else {
                s.err(
                    p.pos,
                    format!(
                        "`ports` must be a range like `60000-61000`, found {}",
                        describe(p)
                    ),
                    "write `FROM-TO`; for one port use `port:`",
                );
                return None;
            };
            if protocol.starts_with("icmp") {
                check_icmp(a, 0, p.pos, s);
                check_icmp(b, -1, p.pos, s);
            } else {
                check_port(a, p.pos, s);
                check_port(b, p.pos, s);
                if a > b {
                    s.err(
                        p.pos,
                        format!("port range {a}-{b} runs backwards"),
                        format!("write `{b}-{a}`"),
                    );
                }
            }
            (a, b)
        }
        (None, None) if protocol == "tcp" || protocol == "udp" => {
            s.err(
                f.pos,
                format!("a {protocol} rule needs `port` or `ports`"),
                "add `port: 22` or `ports: 1000-2000`",
            );
            return None;
        }
        (None, None) => (-1, -1),
    };
    let source = match (f.get("cidr"), f.get("group")) {
        (Some(c), None) => {
            let c = string(c, "`cidr`", s)?;
            if c.contains(':') {
                RuleSource::Cidr6(c)
            } else {
                RuleSource::Cidr(c)
            }
        }
        (None, Some(g)) => RuleSource::Group(string(g, "`group`", s)?),
        (Some(_), Some(g)) => {
            s.err(
                g.pos,
                "a rule has both `cidr` and `group`",
                "one source per rule: write two rules",
            );
            return None;
        }
        (None, None) => {
            s.err(
                f.pos,
                "a rule has no source",
                "add `cidr: 203.0.113.0/24` or `group: <another security group of this lab>`",
            );
            return None;
        }
    };
    Some(SgRule {
        pos: node.pos,
        protocol,
        from_port,
        to_port,
        source,
        allow_world: f
            .get("allow_world")
            .and_then(|n| boolean(n, "`allow_world`", s))
            .unwrap_or(false),
        description: f
            .get("description")
            .and_then(|n| string(n, "`description`", s)),
    })
}

fn check_icmp(v: i32, min: i32, pos: Pos, s: &mut Sink) {
    if !(min..=255).contains(&v) {
        s.err(
            pos,
            format!("ICMP type or code {v} is out of range"),
            "icmp rules take `port: TYPE` (any code) or `ports: TYPE-CODE`, each 0-255 (code -1: any); omit both for all ICMP",
        );
    }
}

fn check_port(v: i32, pos: Pos, s: &mut Sink) {
    if !(0..=65535).contains(&v) {
        s.err(
            pos,
            format!("port {v} is out of range"),
            "ports are 0-65535",
        );
    }
}

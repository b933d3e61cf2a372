//! The toolkit every kind decodes its lab.yaml section with: typed getters that report
//! every shape problem (wrong types, unknown or missing keys, with "did you mean")
//! instead of stopping at the first. Rules about values (names, ranges, references) are
//! each kind's `validate`.

use std::path::{Path, PathBuf};

use super::diag::{Pos, Sink, did_you_mean};
use super::shape::Field;
use super::{Key, Node, Value};
use crate::model::{Keys, Tags};

/// What decoding carries along: the problems found, where each tag was written (for
/// validation to point at), and the lab file's folder (paths are relative to it).
#[derive(Debug, Default)]
pub struct Decoder {
    pub sink: Sink,
    pub tag_sites: TagSites,
    pub base_dir: PathBuf,
}

impl Decoder {
    pub fn new(base_dir: &Path) -> Decoder {
        Decoder {
            base_dir: base_dir.to_path_buf(),
            ..Default::default()
        }
    }

    /// Decodes a `tags:` mapping of `what` and remembers where each tag was written.
    pub fn tags(&mut self, node: &Node, what: &str) -> Tags {
        self.tag_sites.record(node, what, &mut self.sink)
    }

    /// A path in the lab file, relative to the file's folder.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.base_dir.join(rel)
    }
}

/// A mapping whose keys are checked against the allowed set as they are read.
pub struct Fields<'a> {
    pub entries: Vec<(&'a Key, &'a Node)>,
    pub pos: Pos,
}

impl<'a> Fields<'a> {
    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| *v)
            .filter(|v| !v.is_null())
    }

    pub fn keys(&self) -> Keys {
        Keys(
            self.entries
                .iter()
                .map(|(k, v)| (k.name.clone(), v.pos))
                .collect(),
        )
    }

    pub fn required(&self, key: &str, what: &str, s: &mut Sink) -> Option<&'a Node> {
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

/// Reads a mapping of `what` whose keys are `shape`'s: an unknown key or a missing
/// required one is reported here, so the editor's schema and the decoder agree.
pub fn fields<'a>(node: &'a Node, what: &str, shape: &[Field], s: &mut Sink) -> Option<Fields<'a>> {
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
    let allowed: Vec<&str> = shape.iter().map(|f| f.key).collect();
    let mut out = Vec::new();
    for (k, v) in entries {
        if allowed.contains(&k.name.as_str()) {
            out.push((k, v));
        } else {
            let help = match did_you_mean(&k.name, &allowed) {
                Some(m) => format!("did you mean `{m}`?"),
                None => format!("allowed keys here: {}", allowed.join(", ")),
            };
            s.err(k.pos, format!("unknown key `{}` in {what}", k.name), help);
        }
    }
    let f = Fields {
        entries: out,
        pos: node.pos,
    };
    for field in shape.iter().filter(|x| x.required) {
        f.required(field.key, what, s);
    }
    Some(f)
}

/// A mapping from user-chosen names to values (buckets, functions, tags...).
pub fn named<'a>(node: &'a Node, what: &str, s: &mut Sink) -> Vec<(&'a Key, &'a Node)> {
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

pub fn string(node: &Node, what: &str, s: &mut Sink) -> Option<String> {
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

/// A plain scalar as YAML 1.2's core schema reads a boolean: true, True, TRUE (and the
/// same for false).
pub fn plain_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// A plain scalar as YAML 1.2's core schema reads an integer: decimal, 0o octal, 0x
/// hexadecimal.
pub fn plain_int(text: &str) -> Option<i64> {
    text.strip_prefix("0x")
        .map(|h| i64::from_str_radix(h, 16))
        .or_else(|| text.strip_prefix("0o").map(|o| i64::from_str_radix(o, 8)))
        .unwrap_or_else(|| text.parse::<i64>())
        .ok()
}

pub fn boolean(node: &Node, what: &str, s: &mut Sink) -> Option<bool> {
    match &node.value {
        Value::Scalar { text, plain: true } if plain_bool(text).is_some() => plain_bool(text),
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

pub fn integer(node: &Node, what: &str, s: &mut Sink) -> Option<i64> {
    if let Value::Scalar { text, plain: true } = &node.value
        && let Some(n) = plain_int(text)
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
pub fn int32(node: &Node, what: &str, s: &mut Sink) -> Option<(i32, Pos)> {
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

pub fn describe(node: &Node) -> String {
    match &node.value {
        Value::Scalar { text, .. } if !node.is_null() => format!("`{text}`"),
        _ => node.kind().to_owned(),
    }
}

/// A list of strings; a single string is accepted as a one-element list.
pub fn strings(node: &Node, what: &str, s: &mut Sink) -> Vec<(String, Pos)> {
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

pub fn seq<'a>(node: &'a Node, what: &str, s: &mut Sink) -> &'a [Node] {
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

impl TagSites {
    /// Decodes a `tags:` mapping of `what` and remembers where each tag was written.
    pub fn record(&mut self, node: &Node, what: &str, s: &mut Sink) -> Tags {
        self.sites.push((what.to_owned(), tag_entries(node)));
        tags(node, s)
    }
}

//! The few plain types every layer shares: where something was written in the lab file,
//! tags, and the tag that marks what a lab owns. Nothing here knows any resource kind.

use std::collections::BTreeMap;

pub type Tags = BTreeMap<String, String>;

/// The tag that marks what a lab owns. Nothing without it is ever changed or deleted.
pub const OWNER_TAG: &str = "labctl:lab";

/// In class mode, the roster's student a lab is for, on everything the lab owns.
pub const STUDENT_TAG: &str = "labctl:student";

/// A 1-based line and column in the lab file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// Where each key of a mapping was written, for errors found after decoding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys(pub BTreeMap<String, Pos>);

impl Keys {
    /// The position of `key`'s value, or `fallback` when the key was not written.
    pub fn at(&self, key: &str, fallback: Pos) -> Pos {
        self.0.get(key).copied().unwrap_or(fallback)
    }
}

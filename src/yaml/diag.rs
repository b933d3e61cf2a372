//! Problems found in a lab file, each with where it is and what to do about it.

use std::fmt;

pub use crate::model::Pos;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub pos: Pos,
    pub message: String,
    pub help: String,
}

impl Diagnostic {
    pub fn new(pos: Pos, message: impl Into<String>, help: impl Into<String>) -> Self {
        Diagnostic {
            pos,
            message: message.into(),
            help: help.into(),
        }
    }
}

/// Every problem of one lab file; the CLI prints them all and exits 1.
#[derive(Debug, Clone, thiserror::Error)]
pub struct Diagnostics {
    pub file: String,
    pub items: Vec<Diagnostic>,
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "{}:{}:{}: {} — {}",
                self.file, d.pos.line, d.pos.col, d.message, d.help
            )?;
        }
        Ok(())
    }
}

/// Collects diagnostics during decoding and validation. Warnings are advice: AWS
/// accepts what they point at.
#[derive(Debug, Default)]
pub struct Sink {
    pub items: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl Sink {
    pub fn err(&mut self, pos: Pos, message: impl Into<String>, help: impl Into<String>) {
        self.items.push(Diagnostic::new(pos, message, help));
    }

    pub fn warn(&mut self, pos: Pos, message: impl Into<String>, help: impl Into<String>) {
        self.warnings.push(Diagnostic::new(pos, message, help));
    }
}

/// The closest candidate within a small edit distance, for "did you mean" hints.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(&word.to_ascii_lowercase(), c), *c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(1) + 1 && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        assert_eq!(
            did_you_mean("versionin", &["versioning", "lifecycle"]),
            Some("versioning")
        );
        assert_eq!(did_you_mean("Region", &["region", "lab"]), Some("region"));
        assert_eq!(did_you_mean("zzzzzz", &["region", "lab"]), None);
    }
}

//! `${...}` placeholders in lab.yaml strings.

use std::collections::BTreeMap;

use crate::model::{Pos, Tags};

/// What placeholders resolve to. Bucket names are already expanded.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    pub lab: String,
    pub account_id: String,
    pub region: String,
    /// The roster's student id in class mode; empty otherwise.
    pub student: String,
    pub buckets: BTreeMap<String, String>,
}

/// The stand-in account id `validate` uses: a real one has the same length, so length
/// rules checked with it hold on AWS.
pub const STAND_IN_ACCOUNT: &str = "123456789012";

impl Vars {
    fn lookup(&self, key: &str, allow_refs: bool) -> Result<String, String> {
        // IAM policy variables (`${aws:username}`, `${s3:prefix}`) are IAM's to fill in.
        if key.contains(':') {
            return Ok(format!("${{{key}}}"));
        }
        match key {
            "lab" => return Ok(self.lab.clone()),
            "account_id" => return Ok(self.account_id.clone()),
            "region" => return Ok(self.region.clone()),
            "student" if !self.student.is_empty() => return Ok(self.student.clone()),
            "student" => {
                return Err(
                    "`${student}` has a value only in class mode: run with `--roster FILE`".into(),
                );
            }
            _ => {}
        }
        if let Some(rest) = key.strip_prefix("buckets.") {
            if !allow_refs {
                return Err(format!(
                    "`${{{key}}}` cannot be used here; only ${{lab}}, ${{account_id}} and ${{region}} can"
                ));
            }
            let (logical, attr) = rest.rsplit_once('.').ok_or_else(|| format!("`${{{key}}}` needs an attribute: `${{buckets.{rest}.name}}` or `${{buckets.{rest}.arn}}`"))?;
            let name = self.buckets.get(logical).ok_or_else(|| {
                let known: Vec<&str> = self.buckets.keys().map(String::as_str).collect();
                format!(
                    "`${{{key}}}` names bucket `{logical}`, which is not declared (declared: {})",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                )
            })?;
            return match attr {
                "name" => Ok(name.clone()),
                "arn" => Ok(format!("arn:aws:s3:::{name}")),
                other => Err(format!(
                    "`${{{key}}}`: buckets have no attribute `{other}`; use `name` or `arn`"
                )),
            };
        }
        Err(format!(
            "unknown placeholder `${{{key}}}`; known: ${{lab}}, ${{account_id}}, ${{region}}, ${{student}}, ${{buckets.NAME.name}}, ${{buckets.NAME.arn}}"
        ))
    }

    /// Expands every `${...}`. `allow_refs` permits `${buckets.x.*}`.
    pub fn expand(&self, text: &str, allow_refs: bool) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("unclosed placeholder in `{text}`: add the closing `}}`"))?;
            out.push_str(&self.lookup(after[..end].trim(), allow_refs)?);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Fills placeholders in place, wherever a string reaches AWS as written, and keeps
/// every placeholder that cannot be filled with its position. Each kind's `expand`
/// walks its own strings through it.
pub struct Expander<'a> {
    vars: &'a Vars,
    pub errors: Vec<(Pos, String)>,
}

impl<'a> Expander<'a> {
    pub fn new(vars: &'a Vars) -> Self {
        Expander {
            vars,
            errors: Vec::new(),
        }
    }

    pub fn text(&mut self, text: &mut String, pos: Pos) {
        match self.vars.expand(text, true) {
            Ok(v) => *text = v,
            Err(e) => self.errors.push((pos, e)),
        }
    }

    /// A Glue name: Glue and Athena take no `-`, so the lab's and the student's names
    /// go in with `_` for `-` (`${lab}_backups` is `photo_lab_backups`).
    pub fn glue_name(&mut self, text: &mut String, pos: Pos) {
        let mut v = self.vars.clone();
        v.lab = v.lab.replace('-', "_");
        v.student = v.student.replace('-', "_");
        match v.expand(text, false) {
            Ok(x) => *text = x,
            Err(e) => self.errors.push((pos, e)),
        }
    }

    /// Tag values: their problems are reported, with their own positions, by validation.
    pub fn tags(&mut self, t: &mut Tags) {
        for v in t.values_mut() {
            if let Ok(e) = self.vars.expand(v, true) {
                *v = e;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        let mut v = Vars {
            lab: "photo".into(),
            account_id: STAND_IN_ACCOUNT.into(),
            region: "us-east-1".into(),
            ..Default::default()
        };
        v.buckets.insert("source".into(), "photo-src".into());
        v
    }

    #[test]
    fn expands_names_and_refs() {
        assert_eq!(
            vars().expand("${lab}-x-${account_id}", false).unwrap(),
            "photo-x-123456789012"
        );
        assert_eq!(
            vars().expand("${buckets.source.arn}/*", true).unwrap(),
            "arn:aws:s3:::photo-src/*"
        );
    }

    #[test]
    fn refuses_unknown_and_misplaced() {
        assert!(
            vars()
                .expand("${nope}", true)
                .unwrap_err()
                .contains("unknown placeholder")
        );
        assert!(
            vars()
                .expand("${buckets.source.name}", false)
                .unwrap_err()
                .contains("cannot be used here")
        );
        assert!(
            vars()
                .expand("${buckets.other.arn}", true)
                .unwrap_err()
                .contains("not declared")
        );
        assert!(
            vars()
                .expand("${lab", true)
                .unwrap_err()
                .contains("unclosed")
        );
    }
}

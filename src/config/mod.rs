//! lab.yaml in, `model::Lab` or every problem out. Never builds an AWS client, never
//! touches the network.

pub mod decode;
pub mod diag;
pub mod validate;
pub mod yaml;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use diag::{Diagnostic, Diagnostics, Pos};

use crate::model::Lab;

/// Lab files larger than this are refused unread: a lab is a page of YAML, and a huge
/// input would only cost memory.
const MAX_LAB_FILE: u64 = 1024 * 1024;

/// Reads and checks a lab file. `region` (from `--region`) replaces the file's
/// `region:` before the checks, so names that hold `${region}` are checked as they
/// will be made.
/// Returns the lab with its warnings (as `Diagnostics`, for printing).
pub fn load(path: &Path, region: Option<&str>) -> Result<(Lab, Diagnostics), Diagnostics> {
    let file = path.display().to_string();
    let one = |message: String, help: &str| Diagnostics {
        file: file.clone(),
        items: vec![Diagnostic::new(Pos { line: 1, col: 1 }, message, help)],
    };
    let meta = std::fs::metadata(path).map_err(|e| {
        one(
            format!("cannot read the lab file: {e}"),
            "pass the right path with `-f FILE`, or run labctl where lab.yaml is",
        )
    })?;
    if meta.len() > MAX_LAB_FILE {
        return Err(one(
            format!(
                "the lab file is {} bytes; labctl reads lab files up to 1 MiB",
                meta.len()
            ),
            "a lab file is a page of YAML: is this the right file?",
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        one(
            format!("cannot read the lab file: {e}"),
            "check the file's permissions",
        )
    })?;
    let src = String::from_utf8(bytes).map_err(|e| {
        one(
            format!(
                "the lab file is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
            "save it as UTF-8 YAML",
        )
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = if base.as_os_str().is_empty() {
        std::path::PathBuf::from(".")
    } else {
        base
    };
    parse_in(&file, &src, &base, region)
}

pub fn parse_str(file: &str, src: &str, base_dir: &Path) -> Result<Lab, Diagnostics> {
    parse_in(file, src, base_dir, None).map(|(lab, _)| lab)
}

fn parse_in(
    file: &str,
    src: &str,
    base_dir: &Path,
    region: Option<&str>,
) -> Result<(Lab, Diagnostics), Diagnostics> {
    let fail = |items: Vec<Diagnostic>| Diagnostics {
        file: file.to_owned(),
        items,
    };
    if src.contains('\0') {
        return Err(fail(vec![Diagnostic::new(
            Pos { line: 1, col: 1 },
            "the lab file contains NUL bytes: it is binary, not YAML",
            "point labctl at your lab.yaml",
        )]));
    }
    let root = match yaml::parse(src) {
        Ok(Some(root)) => root,
        Ok(None) => {
            return Err(fail(vec![Diagnostic::new(
                Pos { line: 1, col: 1 },
                "the lab file is empty",
                "start with `lab: my-lab` and `region: us-east-1`; see the README for every key",
            )]));
        }
        Err(items) => return Err(fail(items)),
    };
    let mut sink = diag::Sink::default();
    let mut decoded = decode::lab(&root, file, base_dir, &mut sink);
    if let Some(d) = &mut decoded {
        if let Some(r) = region {
            d.lab.region = r.to_owned();
        }
        validate::check(d, &mut sink);
    }
    let mut items = sink.items;
    items.sort_by_key(|d| d.pos);
    items.dedup();
    let mut warnings = sink.warnings;
    warnings.sort_by_key(|d| d.pos);
    warnings.dedup();
    match decoded {
        Some(d) if items.is_empty() => Ok((d.lab, fail(warnings))),
        _ => Err(fail(items)),
    }
}

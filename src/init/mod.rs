//! `labctl init`: a lab to start from, written into a folder: the lab file and the
//! code it names, the same files the project ships and tests (so what `init` writes
//! validates, applies and verifies as it is). Nothing that exists is overwritten.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Template {
    /// The course's lab: backup and compress functions, a Pillow layer, an SSH machine,
    /// Athena over the backups, and its checks.
    Course,
    /// The course's lab for an AWS Academy Learner Lab (LabRole, vockey, us-east-1).
    Academy,
    /// Two buckets and one function that copies between them.
    Minimal,
}

const BACKUP: &str = include_str!("../../lambdas/backup/app.py");
const COMPRESS: &str = include_str!("../../lambdas/compress/app.py");
const QUERY: &str = include_str!("../../queries/largest-backups.sql");

/// The files of a template, by path relative to the folder: the lab file names the
/// schema beside it, so an editor checks it from the first keystroke.
pub fn files(t: Template) -> Vec<(&'static str, String)> {
    let mut out = match t {
        Template::Course | Template::Academy => vec![
            (
                "lab.yaml",
                if t == Template::Course {
                    include_str!("../../lab.yaml")
                } else {
                    include_str!("../../lab.academy.yaml")
                },
            ),
            ("lambdas/backup/app.py", BACKUP),
            ("lambdas/compress/app.py", COMPRESS),
            ("queries/largest-backups.sql", QUERY),
        ],
        Template::Minimal => vec![
            ("lab.yaml", include_str!("minimal.yaml")),
            ("lambdas/backup/app.py", BACKUP),
        ],
    }
    .into_iter()
    .map(|(p, text)| (p, text.to_owned()))
    .collect::<Vec<_>>();
    out.push((crate::yaml::schema::FILE_NAME, crate::config::schema_text()));
    out
}

/// The lab's name: the folder's, when it makes a valid one (two students' labs in one
/// account then differ), else the template's.
fn named(text: &str, dir: &Path) -> String {
    let base = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().to_lowercase()));
    let Some(name) = base.filter(|n| crate::config::valid_lab_name(n)) else {
        return text.to_owned();
    };
    text.lines()
        .map(|l| {
            if l.starts_with("lab: ") {
                format!("lab: {name}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Writes the template into `dir` (made if missing); the paths written.
pub fn write(t: Template, dir: &Path) -> Result<Vec<PathBuf>> {
    let files = files(t);
    let taken: Vec<String> = files
        .iter()
        .map(|(p, _)| dir.join(p))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !taken.is_empty() {
        bail!(
            "{} already exist(s): {}\n  help: run `labctl init` in an empty folder (`labctl init DIR`), or move them away; init never overwrites",
            if taken.len() == 1 { "a file" } else { "files" },
            taken.join(", ")
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for (rel, text) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let text = if rel == "lab.yaml" {
            named(&text, dir)
        } else {
            text
        };
        // create_new: a file that appeared since the check is still not overwritten.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        std::io::Write::write_all(&mut f, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_names_the_code_it_ships() {
        for t in [Template::Course, Template::Academy, Template::Minimal] {
            let files = files(t);
            let lab = &files[0].1;
            for (path, _) in &files[1..] {
                let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or(path);
                let named = if path.ends_with(".sql") { *path } else { dir };
                assert!(
                    lab.contains(named),
                    "{t:?} ships {path}, unused by its lab.yaml"
                );
            }
        }
    }

    #[test]
    fn the_lab_takes_the_folders_name_when_it_is_a_valid_one() {
        let tmp = tempfile::tempdir().unwrap();
        let good = tmp.path().join("ann-lab");
        std::fs::create_dir(&good).unwrap();
        assert!(named("x\nlab: my-lab\ny\n", &good).contains("\nlab: ann-lab\n"));
        let bad = tmp.path().join("Ann's Lab");
        std::fs::create_dir(&bad).unwrap();
        assert_eq!(named("lab: my-lab\n", &bad), "lab: my-lab\n");
    }

    #[test]
    fn nothing_is_overwritten() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("lab.yaml"), "mine").unwrap();
        let e = write(Template::Minimal, tmp.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("lab.yaml") && e.contains("never overwrites"),
            "{e}"
        );
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("lab.yaml")).unwrap(),
            "mine"
        );
        assert!(!tmp.path().join("lambdas").exists());
    }
}

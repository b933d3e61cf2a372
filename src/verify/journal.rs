//! Where a run's probes go, written down before the first put and removed after the
//! cleanup: a run that is interrupted (Ctrl-C, a lost session) leaves its journal, and
//! the next verify of the lab removes what that run left, and only that.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub run: String,
    /// (bucket, prefix ending in the run id).
    pub prefixes: Vec<(String, String)>,
}

fn dir(base: &Path, lab: &str) -> PathBuf {
    base.join(".labctl").join("verify").join(lab)
}

/// Records a run before its probes go out.
pub fn open(base: &Path, lab: &str, e: &Entry) -> std::io::Result<PathBuf> {
    let d = dir(base, lab);
    std::fs::create_dir_all(&d)?;
    let p = d.join(format!("{}.json", e.run));
    std::fs::write(&p, serde_json::to_vec(e).unwrap_or_default())?;
    Ok(p)
}

/// Runs of this lab that never finished their cleanup.
pub fn unfinished(base: &Path, lab: &str) -> Vec<(PathBuf, Entry)> {
    let Ok(rd) = std::fs::read_dir(dir(base, lab)) else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| {
            let e: Entry = serde_json::from_slice(&std::fs::read(&p).ok()?).ok()?;
            // A journal names run ids as verify makes them, nothing wider.
            let valid = e.run.len() == crate::check::RUN_ID_LEN
                && e.run.bytes().all(|b| b.is_ascii_hexdigit())
                && e.prefixes.iter().all(|(_, p)| p.ends_with(&e.run));
            valid.then_some((p, e))
        })
        .collect()
}

pub fn close(path: &Path) {
    let _ = std::fs::remove_file(path);
}

//! The bad-input corpus (tests/corpus, written by its make.py): every file is rejected
//! with exit 1, an error at the file's `# line:` that names the file and says what to
//! do, and not a single AWS call.

use std::path::PathBuf;

use crate::harness::{Proxy, labctl, schema_errors};

fn header(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("# {key}: ")).map(str::to_owned))
}

#[test]
fn every_broken_lab_is_rejected_offline_with_its_line() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    // A huge file is made here rather than committed.
    let huge_dir = tempfile::tempdir().unwrap();
    let huge = huge_dir.path().join("huge.yaml");
    std::fs::write(&huge, "lab: x\n".repeat(300_000)).unwrap();
    files.push(huge.clone());
    assert!(
        files.len() >= 60,
        "the corpus has only {} files",
        files.len()
    );

    let proxy = Proxy::start(&[]);
    let mut failures = Vec::new();
    let mut shaped = 0;
    for f in &files {
        let text = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let (expect, line) = match name.as_str() {
            "empty.yaml" => ("empty".to_owned(), 1),
            "binary.yaml" => ("not UTF-8".to_owned(), 1),
            "huge.yaml" => ("1 MiB".to_owned(), 1),
            _ => (
                header(&text, "expect").expect("# expect:"),
                header(&text, "line")
                    .expect("# line:")
                    .parse::<usize>()
                    .unwrap(),
            ),
        };
        let r = labctl(&proxy.url, f, &["plan"]);
        let err = r.stderr();
        let at = format!("{}:{line}:", f.display());
        let hit = err
            .lines()
            .find(|l| l.starts_with(&at) && l.contains(&expect) && l.contains(" — "));
        // A wrong key or type is the editor's to flag too, from the shipped schema.
        let shape = [
            "unknown key",
            "must be a string",
            "must be true or false",
            "must be a whole number",
            "must be a list",
            "must be a mapping",
            " has no `",
        ];
        let is_shape = hit.is_some_and(|l| shape.iter().any(|m| l.contains(m)));
        shaped += usize::from(is_shape);
        if is_shape && schema_errors(&text).is_empty() {
            failures.push(format!(
                "{name}: a wrong key or type that lab.schema.json accepts"
            ));
        }
        if r.code() != 1 || hit.is_none() {
            failures.push(format!("{name}: exit {}, wanted an error at line {line} with `{expect}` and what to do:\n{err}", r.code()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    assert!(shaped >= 10, "only {shaped} wrong-key or wrong-type files");
    assert!(
        proxy.calls().is_empty(),
        "a broken lab file led to AWS calls: {:?}",
        proxy.calls()
    );
}

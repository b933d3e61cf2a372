//! `checks:` as validation sees it: the shipped checks pass, each broken one is
//! reported on its line with what to do, and routing agrees with the lab's triggers.

use std::path::Path;

use super::route::{Change, route};
use super::{Content, Sample};
use crate::config::parse_str;

fn shipped() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("lab.yaml"))
        .unwrap_or_default()
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped lab with one edit; the problems on the edited line.
#[track_caller]
fn problems(from: &str, to: &str) -> Vec<String> {
    let src = shipped();
    assert_eq!(src.matches(from).count(), 1, "`{from}` must occur once");
    let edited = src.replacen(from, to, 1);
    let line = edited
        .lines()
        .position(|l| l.contains(to.lines().next().unwrap_or(to).trim()))
        .map(|i| i + 1)
        .unwrap_or(0);
    match parse_str("lab.yaml", &edited, root()) {
        Ok(_) => vec![],
        Err(d) => d
            .items
            .into_iter()
            .inspect(|i| assert_eq!(i.pos.line, line, "{i:?} is not on line {line}"))
            .map(|i| format!("{} — {}", i.message, i.help))
            .collect(),
    }
}

#[test]
fn the_shipped_checks_decode_as_written() {
    let lab = parse_str("lab.yaml", &shipped(), root()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lab.checks.len(), 6);
    let c = &lab.checks["compress-shrinks-jpegs"];
    assert_eq!(c.put.content, Content::Sample(Sample::PhotoJpeg));
    assert_eq!(c.put.at.key, "verify/${run}/photo one.jpg");
    assert!(c.expect[1].smaller_than_put && c.expect[1].same_dimensions);
    assert_eq!(
        lab.checks["backup-copies-folders"].put.content,
        Content::Empty
    );
    assert_eq!(lab.checks["compress-ignores-text"].expect_absent.len(), 1);
}

#[test]
fn broken_checks_are_reported_on_their_line() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "put: { bucket: source, key: \"verify/${run}/notes/hello.txt\"",
            "put: { bucket: sourse, key: \"verify/${run}/notes/hello.txt\"",
            "did you mean `source`?",
        ),
        (
            "put: { bucket: source, key: \"verify/${run}/notes/hello.txt\"",
            "put: { bucket: source, key: \"verify/notes/hello.txt\"",
            "does not hold `${run}`",
        ),
        (
            "put: { bucket: source, key: \"verify/${run}/album/\" }",
            "put: { bucket: source, key: \"verify/${run}/album/\", body: x }",
            "is a folder",
        ),
        (
            "sample: photo-jpeg }",
            "sample: photo-jpg }",
            "did you mean `photo-jpeg`?",
        ),
        (
            "key: \"verify/${run}/readme.txt\", body: \"not a photo\" }",
            "key: \"verify/${run}/readme.txt\", body: \"not a photo\", sample: cmyk-jpeg }",
            "both `body` and `sample`",
        ),
        (
            "- { bucket: backup, key: \"verify/${run}/notes/hello.txt\", same_as_put: true }",
            "- { bucket: backup, key: \"verify/${run}/notes/hello.txt\", same_as_put: yes }",
            "must be true or false",
        ),
        (
            "- { bucket: backup, key: \"verify/${run}/album/\" }",
            "- { bucket: backup, key: \"verify/${run}/album/\", smaller_than_put: true }",
            "nothing is smaller than an empty put",
        ),
        (
            "- { bucket: backup, key: \"verify/${run}/notes/hello.txt\", same_as_put: true }",
            "- { bucket: backup, key: \"verify/${run}/notes/hello.txt\", same_dimensions: true }",
            "compares two images",
        ),
        (
            "- { bucket: backup, key: \"compressed/verify/${run}/readme.txt\" }",
            "- { bucket: backup, key: \"compressed/verify/${run}/${user}.txt\" }",
            "unknown placeholder `${user}`",
        ),
        (
            "- { bucket: backup, key: \"compressed/verify/${run}/readme.txt\" }",
            "- { bucket: backup, key: \"compressed/verify/${run}/readme.txt\", size: 3 }",
            "unknown key `size`",
        ),
        (
            "  backup-copies-files:\n",
            "  backup copies files:\n",
            "check name `backup copies files` is not valid",
        ),
    ];
    for (from, to, want) in cases {
        let got = problems(from, to);
        assert!(
            got.iter().any(|p| p.contains(want)),
            "{to}: no `{want}` in {got:#?}"
        );
    }
}

#[test]
fn a_check_that_expects_nothing_is_refused() {
    let src = shipped().replacen(
        "    expect_absent:\n      - { bucket: backup, key: \"compressed/verify/${run}/readme.txt\" }\n",
        "",
        1,
    );
    let errs = parse_str("lab.yaml", &src, root())
        .err()
        .map(|d| d.items)
        .unwrap_or_default();
    let line = src
        .lines()
        .position(|l| l.contains("put: { bucket: source, key: \"verify/${run}/readme.txt\""))
        .unwrap_or(0)
        + 1;
    assert!(
        errs.iter()
            .any(|e| e.message.contains("expects nothing") && e.pos.line == line),
        "{errs:#?}"
    );
}

#[test]
fn routing_follows_the_lab_triggers() {
    let lab = parse_str("lab.yaml", &shipped(), root()).unwrap_or_else(|e| panic!("{e}"));
    let vars = lab.vars("123456789012");
    let (lab, _) = crate::config::expand(&lab, &vars);
    let source = vars.buckets["source"].clone();
    let fired = |key: &str, how: &str| -> Vec<String> {
        route(&lab, &vars.buckets, &Change::created(&source, key, how))
            .into_iter()
            .filter(|f| f.fires())
            .map(|f| f.function)
            .collect()
    };
    assert_eq!(fired("a/photo.jpg", "Put"), ["backup", "compress"]);
    assert_eq!(
        fired("a/PHOTO.JPEG", "Copy"),
        ["backup", "compress"],
        "EventBridge suffixes ignore case"
    );
    assert_eq!(fired("a/notes.txt", "Put"), ["backup"]);
    assert_eq!(fired("album/", "Put"), ["backup"]);
    let removed = Change {
        bucket: source.clone(),
        key: "a.jpg".into(),
        event: "ObjectRemoved:Delete".into(),
    };
    let r = route(&lab, &vars.buckets, &removed);
    assert!(r.iter().all(|f| !f.fires()), "{r:?}");
    assert!(
        r[0].miss
            .as_deref()
            .unwrap_or_default()
            .contains("ObjectRemoved:Delete")
    );
    // Nothing fires on the backup bucket: the lab has no trigger there.
    let backup = vars.buckets["backup"].clone();
    assert!(
        route(
            &lab,
            &vars.buckets,
            &Change::created(&backup, "x.jpg", "Put")
        )
        .is_empty()
    );
    // The direct trigger names its notification entry, as S3 reports it.
    let r = route(&lab, &vars.buckets, &Change::created(&source, "x", "Put"));
    assert_eq!(r[0].config_id.as_deref(), Some("labctl-photo-lab-backup-0"));
}

#[test]
fn a_put_no_trigger_fires_on_is_a_warning() {
    // Put into the backup bucket, where no trigger is: the compressed copy expected
    // there can never appear.
    let src = shipped().replacen(
        "put: { bucket: source, key: \"verify/${run}/photo one.jpg\"",
        "put: { bucket: backup, key: \"verify/${run}/photo one.jpg\"",
        1,
    );
    let (_, warnings) = crate::config::parse_warnings(&src, root());
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("no function of the lab fires on this put")),
        "{warnings:#?}"
    );
}

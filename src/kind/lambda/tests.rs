//! The Lambda planner with hand-made live state: what goes, and in which order.

use std::collections::BTreeMap;
use std::path::Path;

use super::{LiveFunction, LiveLayerVersion};
use crate::kind::diff;
use crate::kind::trigger::LiveRule;
use crate::kind::{Lab, LiveState};
use crate::plan::{Op, Options};

const ACCOUNT: &str = "111122223333";

fn lab(yaml: &str) -> Lab {
    crate::config::parse_str("lab.yaml", yaml, Path::new(env!("CARGO_MANIFEST_DIR")))
        .expect("valid fixture")
}

fn function(name: &str, owner: &str, layers: Vec<String>) -> LiveFunction {
    LiveFunction {
        name: name.into(),
        arn: crate::names::function_arn("us-east-1", ACCOUNT, name),
        runtime: "python3.12".into(),
        handler: "app.handler".into(),
        role: "arn:aws:iam::111122223333:role/labctl/demo-lambda".into(),
        timeout: 3,
        memory: 128,
        environment: BTreeMap::new(),
        layers,
        architecture: "x86_64".into(),
        code_sha256: "old".into(),
        tags: [("labctl:lab".to_owned(), owner.to_owned())].into(),
        permissions: BTreeMap::new(),
    }
}

#[test]
fn leftovers_go_in_order_and_foreign_functions_stay() {
    let lab = lab("lab: demo\nregion: us-east-1\n");
    let layer = "arn:aws:lambda:us-east-1:111122223333:layer:demo-pillow:1".to_owned();
    let mut live = LiveState::default();
    live.lambda.functions.insert(
        "demo-old".into(),
        function("demo-old", "demo", vec![layer.clone()]),
    );
    live.lambda.functions.insert(
        "demo-theirs".into(),
        function("demo-theirs", "another", vec![]),
    );
    live.lambda.layers.insert(
        "demo-pillow".into(),
        vec![LiveLayerVersion {
            version: 1,
            arn: layer,
            description: "labctl:lab=demo sha256=x".into(),
        }],
    );
    live.triggers.rules.insert(
        "demo-old-0".into(),
        LiveRule {
            name: "demo-old-0".into(),
            arn: crate::names::rule_arn("us-east-1", ACCOUNT, "demo-old-0"),
            pattern: "{}".into(),
            enabled: true,
            targets: vec![("lambda".into(), "x".into())],
            tags: [("labctl:lab".to_owned(), "demo".to_owned())].into(),
        },
    );
    let p = diff(&lab, &lab.vars(ACCOUNT), &live, Options::default());
    let shown: Vec<(String, Vec<String>)> = p
        .actions
        .iter()
        .map(|a| {
            assert_eq!(a.op, Op::Delete);
            (
                a.addr.to_string(),
                a.deps
                    .iter()
                    .map(|&d| p.actions[d].addr.to_string())
                    .collect(),
            )
        })
        .collect();
    // The rule stops pointing at the function before the function goes, and the
    // function stops loading the layer before the layer's versions go.
    assert_eq!(
        shown,
        vec![
            (
                "lambda function demo-old".to_owned(),
                vec!["eventbridge rule demo-old-0".to_owned()]
            ),
            (
                "lambda layer demo-pillow".to_owned(),
                vec!["lambda function demo-old".to_owned()]
            ),
            ("eventbridge rule demo-old-0".to_owned(), vec![]),
        ]
    );
}

/// A lab whose function uses a layer; its packages and sizes are made up.
fn sized(code_zipped: usize, code_unzipped: u64, layer_unzipped: u64) -> crate::kind::Plan {
    let lab = lab(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("lab.yaml"))
            .expect("lab.yaml")
            .replace("lab: photo-lab", "lab: demo"),
    );
    let mut live = LiveState::default();
    live.lambda.artifacts = super::artifacts::build(&lab).expect("packages");
    let pkg = live
        .lambda
        .artifacts
        .functions
        .get_mut("compress")
        .expect("compress");
    pkg.zip = std::sync::Arc::new(vec![0; code_zipped]);
    pkg.unzipped = code_unzipped;
    let layer = live
        .lambda
        .artifacts
        .layers
        .get_mut("pillow")
        .expect("pillow");
    layer.zipped = Some(layer_unzipped / 3);
    layer.unzipped = Some(layer_unzipped);
    diff(&lab, &lab.vars(ACCOUNT), &live, Options::default())
}

#[test]
fn lambdas_upload_limits_are_plan_errors() {
    const MB: u64 = 1024 * 1024;
    assert!(sized(1_000, 10 * MB, 40 * MB).errors.is_empty());
    let p = sized(51 * MB as usize, 60 * MB, 10 * MB);
    assert!(
        p.errors[0]
            .message
            .contains("its package is 51.0 MB zipped")
            && p.errors[0].help.contains("layer"),
        "{:?}",
        p.errors
    );
    let p = sized(1_000, 200 * MB, 60 * MB);
    assert!(
        p.errors[0]
            .message
            .contains("unzips to 260.0 MB with its layers (code 200.0 MB, layer pillow 60.0 MB); Lambda allows 250.0 MB"),
        "{:?}",
        p.errors
    );
    let p = sized(1_000, 10 * MB, 160 * MB);
    assert!(
        p.errors
            .iter()
            .any(|e| e.message.contains("layer `pillow` (line")
                && e.message.contains("53.3 MB zipped")),
        "{:?}",
        p.errors
    );
}

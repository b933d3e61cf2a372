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

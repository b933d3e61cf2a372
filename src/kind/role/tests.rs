//! The role planner with hand-made live state.

use std::path::Path;

use super::LiveRole;
use crate::kind::LiveState;
use crate::kind::diff;
use crate::plan::{Op, Options};

fn lab(yaml: &str) -> crate::kind::Lab {
    crate::config::parse_str("lab.yaml", yaml, Path::new(".")).expect("valid fixture")
}

fn role(name: &str, owner: Option<&str>) -> LiveRole {
    LiveRole {
        name: name.into(),
        arn: format!("arn:aws:iam::111122223333:role/labctl/{name}"),
        tags: owner
            .map(|o| [("labctl:lab".to_owned(), o.to_owned())].into())
            .unwrap_or_default(),
        trust: super::policy::trust_document(&["lambda.amazonaws.com".into()]),
        inline: Default::default(),
        attached: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()],
    }
}

#[test]
fn learner_lab_sessions_must_use_the_existing_role() {
    let lab = lab("lab: demo\nregion: us-east-1\nrole:\n  name: demo-lambda\n");
    let opts = Options {
        learner_lab: true,
        ..Default::default()
    };
    let p = diff(&lab, &lab.vars("111122223333"), &LiveState::default(), opts);
    assert!(p.actions.is_empty(), "no IAM write may be planned");
    assert!(
        p.errors[0].help.contains("existing: LabRole"),
        "{:?}",
        p.errors
    );
}

#[test]
fn a_declared_name_someone_else_holds_is_an_error() {
    let lab = lab("lab: demo\nregion: us-east-1\nrole:\n  name: demo-lambda\n");
    let mut live = LiveState::default();
    live.role
        .roles
        .insert("demo-lambda".into(), role("demo-lambda", Some("other")));
    let p = diff(&lab, &lab.vars("111122223333"), &live, Options::default());
    assert_eq!(
        p.errors
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>(),
        vec!["role `demo-lambda` belongs to lab `other`"]
    );
    assert!(p.actions.is_empty());
}

#[test]
fn only_the_labs_own_leftover_roles_go_detached_first() {
    let lab = lab("lab: demo\nregion: us-east-1\n");
    let mut live = LiveState::default();
    live.role
        .roles
        .insert("demo-old".into(), role("demo-old", Some("demo")));
    live.role
        .roles
        .insert("stranger".into(), role("stranger", None));
    let p = diff(&lab, &lab.vars("111122223333"), &live, Options::default());
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(p.actions.len(), 1);
    assert_eq!(
        (p.actions[0].op, p.actions[0].addr.name.as_str()),
        (Op::Delete, "demo-old")
    );
    let crate::kind::Work::Role(w) = &p.actions[0].work else {
        panic!("{:?}", p.actions[0].work)
    };
    assert_eq!(
        w.steps,
        vec![
            super::Step::Detach("arn:aws:iam::aws:policy/ReadOnlyAccess".into()),
            super::Step::Delete
        ]
    );
}

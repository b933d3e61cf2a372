//! The instance planner with hand-made live state: what a user reads for each change.

use std::path::Path;

use expect_test::{Expect, expect};

use super::{ImageInfo, LiveInstance, LiveKeyPair, NAME_TAG};
use crate::kind::LiveState;
use crate::kind::diff;
use crate::plan::Options;
use crate::render::human::{Style, plan as render};

const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEm7SibQfS5B3r0hQ2P3zQn4Wn3m1m8p3w7jv8vX1b2c student@laptop\n";
const AL: &str = "ami-0d27e0fb3bac4d724";
const AL_NEW: &str = "ami-0aaaaaaaaaaaaaaaa";

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("web.pub"), ED25519).unwrap();
        Fixture { dir }
    }

    fn lab(&self, extra: &str) -> crate::kind::Lab {
        self.parse("", extra)
    }

    /// With a role the instance's profile can be made for.
    fn lab_with_role(&self, extra: &str) -> crate::kind::Lab {
        self.parse(
            "role:\n  name: demo-ec2\n  trust: [ec2.amazonaws.com]\n",
            extra,
        )
    }

    fn parse(&self, role: &str, extra: &str) -> crate::kind::Lab {
        let yaml = format!(
            "lab: demo\nregion: us-east-1\n{role}instances:\n  web:\n    ami: al2023\n    key: {{ import: {} }}\n{extra}",
            self.dir.path().join("web.pub").display()
        );
        crate::config::parse_str("lab.yaml", &yaml, self.dir.path()).expect("valid fixture")
    }
}

fn image(id: &str) -> ImageInfo {
    ImageInfo {
        id: id.into(),
        name: "al2023-ami-2023.6.20250101.0-kernel-6.1-x86_64".into(),
        architecture: "x86_64".into(),
        root_device: "/dev/xvda".into(),
    }
}

/// What AWS shows after `web` was launched as declared (t3.micro, key imported).
fn launched() -> LiveState {
    let mut live = LiveState::default();
    let ec2 = &mut live.instances;
    ec2.resolved.insert("al2023".into(), Ok(AL.into()));
    ec2.images.insert(AL.into(), image(AL));
    let hash = super::keys::parse_public(ED25519).unwrap().sha256;
    ec2.key_pairs.insert(
        "demo-web".into(),
        LiveKeyPair {
            name: "demo-web".into(),
            id: "key-1".into(),
            tags: [
                ("labctl:lab".to_owned(), "demo".to_owned()),
                (super::KEY_HASH_TAG.to_owned(), hash),
            ]
            .into(),
        },
    );
    ec2.instances.insert(
        "web".into(),
        LiveInstance {
            id: "i-1".into(),
            state: "running".into(),
            instance_type: "t3.micro".into(),
            image_id: AL.into(),
            subnet_id: "subnet-d1".into(),
            group_ids: vec![],
            key_name: Some("demo-web".into()),
            profile_arn: None,
            public_ip: Some("54.0.0.1".into()),
            public_dns: None,
            imds_required: true,
            root: Some((8, "gp3".into(), true)),
            launched: 1_700_000_000,
            tags: [
                ("labctl:lab".to_owned(), "demo".to_owned()),
                (NAME_TAG.to_owned(), "web".to_owned()),
                ("Name".to_owned(), "demo-web".to_owned()),
            ]
            .into(),
        },
    );
    live
}

#[track_caller]
fn check(lab: &crate::kind::Lab, live: &LiveState, opts: Options, expect: Expect) {
    let p = diff(lab, &lab.vars("111122223333"), live, opts);
    let mut out = render(&p, &Style { color: false });
    for e in &p.errors {
        out.push_str(&format!(
            "error: {}: {}\n  help: {}\n",
            e.addr, e.message, e.help
        ));
    }
    expect.assert_eq(&out);
}

#[test]
fn a_new_instance_waits_for_its_key_and_profile() {
    let f = Fixture::new();
    let mut live = launched();
    live.instances.instances.clear();
    live.instances.key_pairs.clear();
    check(
        &f.lab_with_role("    instance_profile: { role: true }\n    user_data: |\n      #!/bin/sh\n      echo hi\n"),
        &live,
        Options::default(),
        expect![[r#"
            labctl will perform the following actions:

              +   iam role demo-ec2
                    trust: ec2.amazonaws.com
              +   ec2 key pair demo-web
                    public key: web.pub (sha256 f2c511f4bffb)
              +   iam instance profile demo-ec2
                    after: iam role demo-ec2
                    role: demo-ec2
              +   ec2 instance demo-web
                    after: ec2 key pair demo-web, iam instance profile demo-ec2
                    image: ami-0d27e0fb3bac4d724 (al2023: al2023-ami-2023.6.20250101.0-kernel-6.1-x86_64)
                    type: t3.micro
                    subnet: a default subnet
                    key pair: demo-web
                    root volume: 8 GiB gp3, encrypted
                    public ip: true
                    metadata (IMDS): v2 required

            Plan: 4 to add, 0 to change, 0 to destroy.
        "#]],
    );
}

#[test]
fn launched_as_declared_is_no_change() {
    let f = Fixture::new();
    check(
        &f.lab(""),
        &launched(),
        Options::default(),
        expect![[r#"
            No changes. The lab matches lab.yaml.
        "#]],
    );
}

#[test]
fn what_ec2_changes_in_place_is_changed_in_place() {
    let f = Fixture::new();
    let mut live = launched();
    let web = live.instances.instances.get_mut("web").unwrap();
    web.state = "stopped".into();
    web.imds_required = false;
    check(
        &f.lab("    type: t3.small\n"),
        &live,
        Options::default(),
        expect![[r#"
            labctl will perform the following actions:

              ~   ec2 instance demo-web
                    type: t3.micro -> t3.small
                      note: changed in place: the instance is stopped, changed and started again
                    metadata (IMDS): v1 allowed -> v2 required

            Plan: 0 to add, 1 to change, 0 to destroy.
        "#]],
    );
}

#[test]
fn what_is_fixed_at_launch_replaces_the_instance() {
    let f = Fixture::new();
    let mut live = launched();
    live.instances.images.insert(
        "ami-0bbbbbbbbbbbbbbbb".into(),
        image("ami-0bbbbbbbbbbbbbbbb"),
    );
    check(
        &f.lab("    root_volume: { size: 20 }\n").clone(),
        &live,
        Options::default(),
        expect![[r#"
            labctl will perform the following actions:

              -/+ ec2 instance demo-web
                    root_volume: 8 GiB gp3 -> 20 GiB gp3
                      note: fixed at launch: the instance is replaced, and its disk with it

            Plan: 1 to add, 0 to change, 1 to destroy.
        "#]],
    );
}

#[test]
fn a_newer_image_is_reported_or_replaces_as_lab_yaml_says() {
    let f = Fixture::new();
    let mut live = launched();
    live.instances
        .resolved
        .insert("al2023".into(), Ok(AL_NEW.into()));
    live.instances.images.insert(AL_NEW.into(), image(AL_NEW));
    check(
        &f.lab(""),
        &live,
        Options::default(),
        expect![[r#"
            warning: instance web: a newer `al2023` image exists (ami-0aaaaaaaaaaaaaaaa); it keeps ami-0d27e0fb3bac4d724 (`ami_updates: replace` would replace it)
            No changes. The lab matches lab.yaml.
        "#]],
    );
    check(
        &f.lab("    ami_updates: replace\n"),
        &live,
        Options::default(),
        expect![[r#"
            labctl will perform the following actions:

              -/+ ec2 instance demo-web
                    image: ami-0d27e0fb3bac4d724 -> ami-0aaaaaaaaaaaaaaaa
                      note: fixed at launch: the instance is replaced, and its disk with it

            Plan: 1 to add, 0 to change, 1 to destroy.
        "#]],
    );
}

#[test]
fn a_new_public_key_is_imported_again_and_the_instance_replaced() {
    let f = Fixture::new();
    let mut live = launched();
    live.instances
        .key_pairs
        .get_mut("demo-web")
        .unwrap()
        .tags
        .insert(super::KEY_HASH_TAG.into(), "0123456789abcdef".into());
    let p = diff(
        &f.lab(""),
        &f.lab("").vars("111122223333"),
        &live,
        Options::default(),
    );
    let shown: Vec<(String, &str)> = p
        .actions
        .iter()
        .map(|a| (a.addr.to_string(), a.op.verb()))
        .collect();
    assert_eq!(
        shown,
        vec![
            ("ec2 key pair demo-web".to_owned(), "replace"),
            ("ec2 instance demo-web".to_owned(), "replace"),
        ]
    );
}

#[test]
fn aws_academy_limits_are_plan_errors() {
    let f = Fixture::new();
    let mut live = launched();
    live.instances.instances.clear();
    live.instances.running_in_region = 9;
    let academy = Options {
        learner_lab: true,
        ..Default::default()
    };
    let p = diff(
        &f.lab("    type: t3.xlarge\n"),
        &f.lab("").vars("111122223333"),
        &live,
        academy,
    );
    assert!(
        p.errors.iter().any(|e| e.message.contains("nano to large")),
        "{:?}",
        p.errors
    );
    let p = diff(&f.lab(""), &f.lab("").vars("111122223333"), &live, academy);
    assert!(
        p.errors
            .iter()
            .any(|e| e.message.contains("9 run now and this plan starts 1")),
        "{:?}",
        p.errors
    );
    assert!(
        p.warnings.iter().any(|w| w.contains("vockey")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn destroy_terminates_before_what_the_instance_used_goes() {
    let f = Fixture::new();
    let lab = f.lab("");
    let opts = Options {
        destroying: true,
        ..Default::default()
    };
    let p = diff(&lab.emptied(), &lab.vars("111122223333"), &launched(), opts);
    let shown: Vec<(String, Vec<String>)> = p
        .actions
        .iter()
        .map(|a| {
            (
                a.addr.to_string(),
                a.deps
                    .iter()
                    .map(|&d| p.actions[d].addr.to_string())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            ("ec2 instance demo-web".to_owned(), vec![]),
            (
                "ec2 key pair demo-web".to_owned(),
                vec!["ec2 instance demo-web".to_owned()]
            ),
        ]
    );
    let _ = Path::new(".");
}

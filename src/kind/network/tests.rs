//! The VPC planner with hand-made live state: what a user reads for each situation.

use std::path::Path;

use expect_test::{Expect, expect};

use super::{LiveGroup, LiveNetwork, LiveSubnet, LiveVpc, SgRuleState, SgSource};
use crate::kind::LiveState;
use crate::kind::diff;
use crate::plan::Options;
use crate::render::human::{Style, plan as render};

const LAB: &str = r#"lab: demo
region: us-east-1
network:
  vpc: default
  subnets:
    lab-a: { cidr: 172.31.96.0/24, az: us-east-1a }
    lab-b: { cidr: 172.31.97.0/24, az: use1-az1, map_public_ip: true }
  security_groups:
    ssh:
      description: SSH into lab machines
      ingress:
        - { protocol: tcp, port: 22, cidr: 203.0.113.0/24 }
    web:
      description: web from the ssh group
      ingress:
        - { protocol: tcp, port: 80, group: ssh }
"#;

fn tags(kv: &[(&str, &str)]) -> crate::model::Tags {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The default VPC of us-east-1 as a fresh account has it: two zones' default subnets.
fn default_vpc() -> LiveNetwork {
    let default_subnet = |id: &str, cidr: &str, az: &str, az_id: &str| LiveSubnet {
        id: id.into(),
        cidr: cidr.into(),
        az: az.into(),
        az_id: az_id.into(),
        map_public_ip: true,
        default_for_az: true,
        tags: Default::default(),
    };
    LiveNetwork {
        vpc: Some(LiveVpc {
            id: "vpc-1".into(),
            cidrs: vec!["172.31.0.0/16".into()],
        }),
        zones: vec![
            ("us-east-1a".into(), "use1-az6".into()),
            ("us-east-1b".into(), "use1-az1".into()),
        ],
        subnets: vec![
            default_subnet("subnet-d1", "172.31.0.0/20", "us-east-1a", "use1-az6"),
            default_subnet("subnet-d2", "172.31.16.0/20", "us-east-1b", "use1-az1"),
        ],
        groups: vec![],
    }
}

fn ours(extra: &[(&str, &str)]) -> crate::model::Tags {
    let mut t = tags(&[("labctl:lab", "demo")]);
    t.extend(tags(extra));
    t
}

fn subnet(name: &str, cidr: &str, az: &str) -> LiveSubnet {
    LiveSubnet {
        id: format!("subnet-{name}"),
        cidr: cidr.into(),
        az: az.into(),
        az_id: if az == "us-east-1a" {
            "use1-az6".into()
        } else {
            "use1-az1".into()
        },
        map_public_ip: false,
        default_for_az: false,
        tags: ours(&[("Name", &format!("demo-{name}"))]),
    }
}

fn rule(proto: &str, port: i32, source: SgSource) -> SgRuleState {
    SgRuleState {
        protocol: proto.into(),
        from_port: port,
        to_port: port,
        source,
        description: String::new(),
    }
}

fn all_out() -> SgRuleState {
    SgRuleState {
        protocol: "-1".into(),
        from_port: -1,
        to_port: -1,
        source: SgSource::Cidr("0.0.0.0/0".into()),
        description: String::new(),
    }
}

fn group(name: &str, id: &str, ingress: Vec<SgRuleState>) -> LiveGroup {
    LiveGroup {
        id: id.into(),
        name: format!("demo-{name}"),
        description: match name {
            "ssh" => "SSH into lab machines".into(),
            "web" => "web from the ssh group".into(),
            _ => "old".into(),
        },
        tags: ours(&[]),
        ingress,
        egress: vec![all_out()],
    }
}

/// The lab applied: both subnets, both groups, every rule.
fn in_sync() -> LiveNetwork {
    let mut n = default_vpc();
    let mut b = subnet("lab-b", "172.31.97.0/24", "us-east-1b");
    b.map_public_ip = true;
    n.subnets
        .extend([subnet("lab-a", "172.31.96.0/24", "us-east-1a"), b]);
    n.groups = vec![
        group(
            "ssh",
            "sg-ssh",
            vec![rule("tcp", 22, SgSource::Cidr("203.0.113.0/24".into()))],
        ),
        group(
            "web",
            "sg-web",
            vec![rule("tcp", 80, SgSource::Group("sg-ssh".into()))],
        ),
    ];
    n
}

#[track_caller]
fn check(yaml: &str, net: Option<LiveNetwork>, opts: Options, expect: Expect) {
    let lab = crate::config::parse_str("lab.yaml", yaml, Path::new(".")).expect("valid fixture");
    let live = LiveState {
        network: net,
        ..Default::default()
    };
    let p = diff(&lab, &lab.vars("111122223333"), &live, opts);
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
fn a_new_network_is_created_groups_before_their_rules() {
    check(
        LAB,
        Some(default_vpc()),
        Options::default(),
        expect![[r#"
            labctl will perform the following actions:

              +   ec2 subnet demo-lab-a
                    cidr: 172.31.96.0/24
                    az: us-east-1a (use1-az6)
              +   ec2 subnet demo-lab-b
                    cidr: 172.31.97.0/24
                    az: us-east-1b (use1-az1)
                    map_public_ip: true
              +   ec2 security group demo-ssh
                    description: SSH into lab machines
              +   ec2 security group rules demo-ssh
                    after: ec2 security group demo-ssh
                    ingress: tcp 22 from 203.0.113.0/24
              +   ec2 security group demo-web
                    description: web from the ssh group
              +   ec2 security group rules demo-web
                    after: ec2 security group demo-ssh, ec2 security group demo-web
                    ingress: tcp 80 from demo-ssh

            Plan: 6 to add, 0 to change, 0 to destroy.
        "#]],
    );
}

#[test]
fn in_sync_is_no_changes() {
    check(
        LAB,
        Some(in_sync()),
        Options::default(),
        expect![[r#"
            No changes. The lab matches lab.yaml.
        "#]],
    );
}

#[test]
fn a_subnet_that_overlaps_a_default_one_is_refused_with_a_free_block() {
    check(
        &LAB.replace("172.31.96.0/24", "172.31.8.0/24"),
        Some(default_vpc()),
        Options::default(),
        expect![[r#"
            labctl will perform the following actions:

              +   ec2 subnet demo-lab-b
                    cidr: 172.31.97.0/24
                    az: us-east-1b (use1-az1)
                    map_public_ip: true
              +   ec2 security group demo-ssh
                    description: SSH into lab machines
              +   ec2 security group rules demo-ssh
                    after: ec2 security group demo-ssh
                    ingress: tcp 22 from 203.0.113.0/24
              +   ec2 security group demo-web
                    description: web from the ssh group
              +   ec2 security group rules demo-web
                    after: ec2 security group demo-ssh, ec2 security group demo-web
                    ingress: tcp 80 from demo-ssh

            Plan: 5 to add, 0 to change, 0 to destroy.
            error: ec2 subnet demo-lab-a: 172.31.8.0/24 (line 6) overlaps the default subnet subnet-d1 (172.31.0.0/20 in us-east-1a)
              help: use a free block, e.g. 172.31.32.0/24
        "#]],
    );
}

#[test]
fn an_unknown_zone_lists_the_regions_zones() {
    check(
        &LAB.replace("az: us-east-1a", "az: us-east-1f"),
        Some(in_sync()),
        Options::default(),
        expect![[r#"
            No changes. The lab matches lab.yaml.
            error: ec2 subnet demo-lab-a: availability zone `us-east-1f` (line 6) is not an available zone of us-east-1
              help: use one of: us-east-1a (use1-az6), us-east-1b (use1-az1)
        "#]],
    );
}

#[test]
fn a_new_cidr_replaces_the_subnet_after_the_dropped_one_goes() {
    let yaml = LAB.replace("172.31.96.0/24", "172.31.98.0/24").replace(
        "    lab-b: { cidr: 172.31.97.0/24, az: use1-az1, map_public_ip: true }\n",
        "",
    );
    check(
        &yaml,
        Some(in_sync()),
        Options::default(),
        expect![[r#"
            labctl will perform the following actions:

              -/+ ec2 subnet demo-lab-a
                    after: ec2 subnet demo-lab-b
                    cidr: 172.31.96.0/24 -> 172.31.98.0/24
                      note: a subnet's CIDR cannot change: it is replaced
              -   ec2 subnet demo-lab-b  (tagged as this lab's, no longer in lab.yaml)

            Plan: 1 to add, 0 to change, 2 to destroy.
        "#]],
    );
}

#[test]
fn each_rule_drift_is_one_change_and_a_new_description_only_warns() {
    let mut net = in_sync();
    // Someone opened SSH to another network by hand, and edited the description.
    net.groups[0]
        .ingress
        .push(rule("tcp", 22, SgSource::Cidr("198.51.100.0/24".into())));
    net.groups[1].description = "edited by hand".into();
    net.subnets[3].tags.insert("owner".into(), "bob".into());
    check(
        LAB,
        Some(net),
        Options::default(),
        expect![[r#"
            warning: security group demo-web: its description cannot change in place ("edited by hand" in AWS, "web from the ssh group" in lab.yaml); labctl keeps the group. Rename the group in lab.yaml to get a new one
            labctl will perform the following actions:

              ~   ec2 subnet demo-lab-b
                    tags: Name=demo-lab-b, labctl:lab=demo, owner=bob -> Name=demo-lab-b, labctl:lab=demo
              ~   ec2 security group rules demo-ssh
                    ingress: tcp 22 from 198.51.100.0/24 -> (none)

            Plan: 0 to add, 2 to change, 0 to destroy.
        "#]],
    );
}

#[test]
fn groups_that_name_each_other_go_rules_first_then_groups() {
    let mut net = in_sync();
    // A dropped group whose rule names the ssh group, which is dropped too.
    net.groups.push(group(
        "old",
        "sg-old",
        vec![rule("tcp", 443, SgSource::Group("sg-ssh".into()))],
    ));
    let yaml = "lab: demo\nregion: us-east-1\nnetwork:\n  vpc: default\n  security_groups:\n    web:\n      description: web from anywhere\n      ingress:\n        - { protocol: tcp, port: 80, cidr: 203.0.113.0/24 }\n";
    net.groups[1].description = "web from anywhere".into();
    check(
        yaml,
        Some(net),
        Options::default(),
        expect![[r#"
            labctl will perform the following actions:

              -   ec2 subnet demo-lab-a  (tagged as this lab's, no longer in lab.yaml)
              -   ec2 subnet demo-lab-b  (tagged as this lab's, no longer in lab.yaml)
              ~   ec2 security group rules demo-web
                    ingress: tcp 80 from demo-ssh -> (none)
                    ingress: (none) -> tcp 80 from 203.0.113.0/24
              -   ec2 security group rules demo-old  (rules naming other groups go before the groups)
              -   ec2 security group demo-old  (tagged as this lab's, no longer in lab.yaml)
                    after: ec2 security group rules demo-web, ec2 security group rules demo-old
              -   ec2 security group demo-ssh  (tagged as this lab's, no longer in lab.yaml)
                    after: ec2 security group rules demo-web, ec2 security group rules demo-old

            Plan: 0 to add, 1 to change, 5 to destroy.
        "#]],
    );
}

#[test]
fn what_is_not_the_labs_is_never_touched() {
    let mut net = default_vpc();
    // A look-alike subnet and a group whose name only differs in case, neither tagged.
    let mut s = subnet("lab-a", "172.31.96.0/24", "us-east-1a");
    s.tags = tags(&[("Name", "demo-lab-a")]);
    net.subnets.push(s);
    let mut g = group("ssh", "sg-x", vec![]);
    g.name = "DEMO-SSH".into();
    g.tags = Default::default();
    net.groups.push(g);
    check(
        "lab: demo\nregion: us-east-1\nnetwork:\n  vpc: default\n  security_groups:\n    ssh:\n      description: SSH into lab machines\n",
        Some(net),
        Options::default(),
        expect![[r#"
            No changes. The lab matches lab.yaml.
            error: ec2 security group demo-ssh: security group name `demo-ssh` (line 6) is taken in the default VPC by sg-x (without labctl's tag)
              help: EC2 names are unique per VPC, ignoring case: rename the group in lab.yaml
        "#]],
    );
}

#[test]
fn a_region_without_a_default_vpc_is_an_error_that_says_how_to_fix_it() {
    check(
        LAB,
        Some(LiveNetwork::default()),
        Options::default(),
        expect![[r#"
            No changes. The lab matches lab.yaml.
            error: ec2 subnet default VPC: the region us-east-1 has no default VPC (line 4); labctl builds the lab's network in it
              help: recreate it with `aws ec2 create-default-vpc --region us-east-1`, then rerun
        "#]],
    );
}

#[test]
fn destroy_removes_every_subnet_and_group_of_the_lab() {
    let lab = crate::config::parse_str("lab.yaml", LAB, Path::new(".")).expect("valid fixture");
    let live = LiveState {
        network: Some(in_sync()),
        ..Default::default()
    };
    let opts = Options {
        destroying: true,
        ..Default::default()
    };
    let p = diff(&lab.emptied(), &lab.vars("111122223333"), &live, opts);
    let gone: Vec<String> = p.actions.iter().map(|a| a.addr.to_string()).collect();
    assert_eq!(
        gone,
        vec![
            "ec2 subnet demo-lab-a",
            "ec2 subnet demo-lab-b",
            "ec2 security group demo-ssh",
            "ec2 security group rules demo-web",
            "ec2 security group demo-web",
        ]
    );
    // The group that others name goes only after the rule that names it.
    let ssh = p
        .actions
        .iter()
        .find(|a| a.addr.name == "demo-ssh" && a.addr.kind == super::GROUP)
        .unwrap();
    assert_eq!(ssh.deps, vec![3]);
}

//! The default VPC's lab subnets and security group: checked through a separate client.

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange};

use crate::harness::{Lab, Proxy, sdk};

fn ec2() -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&sdk())
}

fn net_lab(name: &str, a: u8) -> String {
    format!(
        r#"lab: {name}
region: us-east-1
network:
  vpc: default
  subnets:
    lab-a: {{ cidr: 172.31.{a}.0/24, az: us-east-1a, map_public_ip: true }}
    lab-b: {{ cidr: 172.31.{b}.0/24, az: use1-az1 }}
  security_groups:
    ssh:
      description: SSH into lab machines
      ingress:
        - {{ protocol: tcp, port: 22, cidr: 203.0.113.0/24 }}
        - {{ protocol: udp, ports: 60000-61000, cidr: 203.0.113.0/24 }}
    web:
      description: web from the ssh group
      ingress:
        - {{ protocol: tcp, port: 80, group: ssh }}
"#,
        b = a + 1
    )
}

async fn group(name: &str) -> aws_sdk_ec2::types::SecurityGroup {
    let out = ec2()
        .describe_security_groups()
        .filters(Filter::builder().name("group-name").values(name).build())
        .send()
        .await
        .unwrap();
    out.security_groups()[0].clone()
}

fn world_ssh() -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .ip_ranges(IpRange::builder().cidr_ip("198.51.100.0/24").build())
        .build()
}

#[tokio::test]
async fn subnets_and_groups_apply_drift_repair_and_destroy() {
    let name = "t-net";
    let lab = Lab::new(name, &net_lab(name, 110));
    lab.run(&["apply", "--auto-approve"]).ok();

    let subnets = ec2()
        .describe_subnets()
        .filters(
            Filter::builder()
                .name("tag:labctl:lab")
                .values(name)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut found: Vec<(String, String, bool)> = subnets
        .subnets()
        .iter()
        .map(|s| {
            (
                s.cidr_block().unwrap().to_owned(),
                s.availability_zone_id().unwrap().to_owned(),
                s.map_public_ip_on_launch().unwrap(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            ("172.31.110.0/24".into(), "use1-az6".into(), true),
            ("172.31.111.0/24".into(), "use1-az1".into(), false)
        ]
    );
    let ssh = group(&format!("{name}-ssh")).await;
    assert_eq!(ssh.ip_permissions().len(), 2);
    assert!(
        ssh.ip_permissions_egress()
            .iter()
            .any(|p| p.ip_protocol() == Some("-1")),
        "the default egress rule is kept"
    );
    let web = group(&format!("{name}-web")).await;
    assert_eq!(
        web.ip_permissions()[0].user_id_group_pairs()[0].group_id(),
        ssh.group_id()
    );

    let proxy = Proxy::start(&[]);
    lab.run_at(&proxy.url, &["apply", "--auto-approve"]).ok();
    assert_eq!(proxy.writes(), Vec::<String>::new());

    // An extra rule added out of band: one-rule drift, revoked by apply.
    let id = ssh.group_id().unwrap().to_owned();
    ec2()
        .authorize_security_group_ingress()
        .group_id(&id)
        .ip_permissions(world_ssh())
        .send()
        .await
        .unwrap();
    let r = lab.run(&["plan", "--detailed-exitcode"]).code_is(2);
    let out = r.stdout();
    assert!(
        out.contains("ingress: tcp 22 from 198.51.100.0/24 -> (none)")
            && out.contains("Plan: 0 to add, 1 to change, 0 to destroy."),
        "{out}"
    );
    let proxy = Proxy::start(&[]);
    lab.run_at(&proxy.url, &["apply", "--auto-approve"]).ok();
    assert_eq!(
        proxy.writes(),
        vec!["ec2 RevokeSecurityGroupIngress".to_owned()]
    );

    // A rule removed out of band: one-rule drift, authorized again.
    let mosh = IpPermission::builder()
        .ip_protocol("udp")
        .from_port(60000)
        .to_port(61000)
        .ip_ranges(IpRange::builder().cidr_ip("203.0.113.0/24").build())
        .build();
    ec2()
        .revoke_security_group_ingress()
        .group_id(&id)
        .ip_permissions(mosh)
        .send()
        .await
        .unwrap();
    let r = lab.run(&["plan", "--detailed-exitcode"]).code_is(2);
    assert!(
        r.stdout()
            .contains("ingress: (none) -> udp 60000-61000 from 203.0.113.0/24"),
        "{}",
        r.stdout()
    );
    let proxy = Proxy::start(&[]);
    lab.run_at(&proxy.url, &["apply", "--auto-approve"]).ok();
    assert_eq!(
        proxy.writes(),
        vec!["ec2 AuthorizeSecurityGroupIngress".to_owned()]
    );
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);

    // A moved subnet is replaced, and says why.
    lab.write(&net_lab(name, 110).replace("172.31.111.0/24", "172.31.112.0/24"));
    let r = lab.run(&["plan", "--detailed-exitcode"]).code_is(2);
    assert!(
        r.stdout().contains(&format!("-/+ ec2 subnet {name}-lab-b"))
            && r.stdout().contains("cannot change"),
        "{}",
        r.stdout()
    );
    lab.run(&["apply", "--auto-approve"]).ok();
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);

    // Destroy removes the lab's groups and subnets and nothing else.
    let defaults = ec2()
        .describe_subnets()
        .filters(
            Filter::builder()
                .name("default-for-az")
                .values("true")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .subnets()
        .len();
    lab.run(&["destroy", "--auto-approve"]).ok();
    let left = ec2()
        .describe_subnets()
        .filters(
            Filter::builder()
                .name("tag:labctl:lab")
                .values(name)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(left.subnets().is_empty());
    let left = ec2()
        .describe_security_groups()
        .filters(
            Filter::builder()
                .name("tag:labctl:lab")
                .values(name)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(left.security_groups().is_empty());
    let vpcs = ec2()
        .describe_vpcs()
        .filters(Filter::builder().name("isDefault").values("true").build())
        .send()
        .await
        .unwrap();
    assert_eq!(vpcs.vpcs().len(), 1, "the default VPC stays");
    let after = ec2()
        .describe_subnets()
        .filters(
            Filter::builder()
                .name("default-for-az")
                .values("true")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .subnets()
        .len();
    assert_eq!(after, defaults, "default subnets stay");
}

#[tokio::test]
async fn conflicting_cidrs_are_refused_before_any_write() {
    let name = "t-netbad";
    // Overlaps the default subnet of us-east-1a (172.31.0.0/20): a plan error that names
    // it and proposes a free block, with no write call.
    let lab = Lab::new(
        name,
        &net_lab(name, 120).replace("172.31.120.0/24", "172.31.0.0/24"),
    );
    let proxy = Proxy::start(&[]);
    let r = lab
        .run_at(&proxy.url, &["apply", "--auto-approve"])
        .code_is(1);
    let err = r.stderr();
    assert!(
        err.contains("172.31.0.0/24")
            && err.contains("overlaps the default subnet subnet-")
            && err.contains("172.31.0.0/20")
            && err.contains("e.g. 172.31."),
        "{err}"
    );
    assert_eq!(proxy.writes(), Vec::<String>::new());
    // Outside the VPC: refused offline, naming the VPC's block, with no AWS call at all.
    lab.write(&net_lab(name, 120).replace("172.31.120.0/24", "10.1.0.0/24"));
    let proxy = Proxy::start(&[]);
    let r = lab
        .run_at(&proxy.url, &["apply", "--auto-approve"])
        .code_is(1);
    assert!(
        r.stderr()
            .contains("outside the default VPC's 172.31.0.0/16"),
        "{}",
        r.stderr()
    );
    assert!(proxy.calls().is_empty());
}

#[tokio::test]
async fn an_unknown_zone_is_refused_with_the_regions_zones() {
    let name = "t-netzone";
    // Zones the VPC's subnets already name cost no extra call.
    let lab = Lab::new(name, &net_lab(name, 126));
    let proxy = Proxy::start(&[]);
    lab.run_at(&proxy.url, &["plan"]).ok();
    let actions: Vec<String> = proxy.calls().into_iter().map(|c| c.action).collect();
    assert!(
        !actions.iter().any(|a| a == "DescribeAvailabilityZones"),
        "{actions:?}"
    );
    // A zone no subnet names is looked up among the region's zones, and refused.
    lab.write(&net_lab(name, 126).replace("az: us-east-1a", "az: us-east-1z"));
    let proxy = Proxy::start(&[]);
    let r = lab
        .run_at(&proxy.url, &["apply", "--auto-approve"])
        .code_is(1);
    let err = r.stderr();
    assert!(
        err.contains("availability zone `us-east-1z`")
            && err.contains("is not an available zone of us-east-1")
            && err.contains("us-east-1a (use1-az")
            && err.contains("us-east-1f ("),
        "{err}"
    );
    assert_eq!(proxy.writes(), Vec::<String>::new());
}

#[tokio::test]
async fn rule_descriptions_reach_ec2_and_a_new_one_is_applied() {
    let name = "t-netdesc";
    let yaml = net_lab(name, 128).replace(
        "{ protocol: tcp, port: 22, cidr: 203.0.113.0/24 }",
        "{ protocol: tcp, port: 22, cidr: 203.0.113.0/24, description: campus ssh }\n        - { protocol: icmp, port: 8, cidr: 203.0.113.0/24 }\n        - { protocol: icmpv6, port: 128, cidr: \"2001:db8::/32\" }",
    );
    let lab = Lab::new(name, &yaml);
    lab.run(&["apply", "--auto-approve"]).ok();
    let ssh_desc = || async {
        group(&format!("{name}-ssh"))
            .await
            .ip_permissions()
            .iter()
            .filter(|p| p.from_port() == Some(22))
            .flat_map(|p| p.ip_ranges())
            .map(|r| r.description().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(ssh_desc().await, ["campus ssh"]);
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);
    lab.write(&yaml.replace("campus ssh", "lab ssh"));
    let r = lab.run(&["plan", "--detailed-exitcode"]).code_is(2);
    assert!(
        r.stdout().contains("tcp 22 from 203.0.113.0/24 (lab ssh)"),
        "{}",
        r.stdout()
    );
    lab.run(&["apply", "--auto-approve"]).ok();
    assert_eq!(ssh_desc().await, ["lab ssh"]);
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);
    lab.run(&["destroy", "--auto-approve"]).ok();
}

#[tokio::test]
async fn dropping_the_network_section_removes_the_labs_network() {
    let name = "t-netgone";
    let lab = Lab::new(name, &net_lab(name, 124));
    lab.run(&["apply", "--auto-approve"]).ok();
    lab.write(&format!("lab: {name}\nregion: us-east-1\n"));
    let r = lab.run(&["plan", "--detailed-exitcode"]).code_is(2);
    assert!(
        r.stdout().contains(&format!("-   ec2 subnet {name}-lab-a"))
            && r.stdout()
                .contains(&format!("-   ec2 security group {name}-web")),
        "{}",
        r.stdout()
    );
    lab.run(&["apply", "--auto-approve"]).ok();
    let by_tag = Filter::builder()
        .name("tag:labctl:lab")
        .values(name)
        .build();
    assert!(
        ec2()
            .describe_subnets()
            .filters(by_tag.clone())
            .send()
            .await
            .unwrap()
            .subnets()
            .is_empty()
    );
    assert!(
        ec2()
            .describe_security_groups()
            .filters(by_tag)
            .send()
            .await
            .unwrap()
            .security_groups()
            .is_empty()
    );
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);
}

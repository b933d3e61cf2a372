//! EC2 instances with their key pairs, checked through a separate client: launched as
//! declared, reachable, changed in place where EC2 can, replaced where it cannot, and
//! destroyed in the order AWS needs (the proxy refuses a group or subnet still in use).

use std::os::unix::fs::PermissionsExt;

use aws_sdk_ec2::types::Filter;

use crate::harness::{Lab, Proxy, labctl_env, sdk, shipped_lab};

fn ec2() -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&sdk())
}

async fn instances(lab: &str) -> Vec<aws_sdk_ec2::types::Instance> {
    ec2()
        .describe_instances()
        .filters(Filter::builder().name("tag:labctl:lab").values(lab).build())
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("pending")
                .values("running")
                .values("stopped")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .reservations()
        .iter()
        .flat_map(|r| r.instances().to_vec())
        .collect()
}

async fn key_pairs(lab: &str) -> Vec<String> {
    ec2()
        .describe_key_pairs()
        .filters(Filter::builder().name("tag:labctl:lab").values(lab).build())
        .send()
        .await
        .unwrap()
        .key_pairs()
        .iter()
        .filter_map(|k| k.key_name().map(str::to_owned))
        .collect()
}

/// A stand-in for ssh that says what it was asked to run.
fn fake_ssh(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("fake-ssh");
    std::fs::write(&p, "#!/bin/sh\necho \"ssh $*\"\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[tokio::test]
async fn the_shipped_instance_runs_is_reachable_changes_in_place_and_goes_last() {
    let name = "t-ec2";
    let yaml = shipped_lab(name, 118);
    let lab = Lab::new(name, &yaml);
    let r = lab.run(&["apply", "--auto-approve"]).ok();
    let pem = lab
        .dir
        .path()
        .join(format!(".labctl/keys/{name}/{name}-web.pem"));
    let out = r.stdout();
    assert!(
        out.contains("Outputs:")
            && out.contains(&format!("ssh -i {}", pem.display()))
            && out.contains("ec2-user@"),
        "{out}"
    );

    // As declared: in lab-a behind the ssh group, IMDSv2, an encrypted root volume,
    // tagged at launch, with a key EC2 made whose private key only its owner can read.
    let found = instances(name).await;
    assert_eq!(found.len(), 1);
    let i = &found[0];
    assert_eq!(i.instance_type().map(|t| t.as_str()), Some("t3.micro"));
    let subnet = ec2()
        .describe_subnets()
        .subnet_ids(i.subnet_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(subnet.subnets()[0].cidr_block(), Some("172.31.118.0/24"));
    let groups: Vec<String> = i.network_interfaces()[0]
        .groups()
        .iter()
        .filter_map(|g| g.group_name().map(str::to_owned))
        .collect();
    assert_eq!(groups, vec![format!("{name}-ssh")]);
    assert_eq!(
        i.metadata_options()
            .and_then(|m| m.http_tokens())
            .map(|t| t.as_str()),
        Some("required")
    );
    assert!(i.public_ip_address().is_some());
    let vol = i.block_device_mappings()[0]
        .ebs()
        .unwrap()
        .volume_id()
        .unwrap();
    let v = ec2()
        .describe_volumes()
        .volume_ids(vol)
        .send()
        .await
        .unwrap();
    let v = &v.volumes()[0];
    assert_eq!((v.size(), v.encrypted()), (Some(8), Some(true)));
    assert!(
        v.tags().iter().any(|t| t.key() == Some("labctl:lab")),
        "volumes are tagged at launch"
    );
    assert_eq!(key_pairs(name).await, vec![format!("{name}-web")]);
    let mode = std::fs::metadata(&pem).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);

    // `labctl ssh` logs in with the key, user and address from AWS.
    let ssh = fake_ssh(lab.dir.path());
    let r = labctl_env(
        crate::harness::moto(),
        &lab.path(),
        &["ssh", "web", "--", "uptime"],
        &[("LABCTL_SSH", ssh.to_str().unwrap())],
    )
    .ok();
    let line = r.stdout();
    assert!(
        line.contains(&format!("-i {}", pem.display()))
            && line.contains("ec2-user@")
            && line.contains("StrictHostKeyChecking=accept-new")
            && line.trim_end().ends_with("uptime"),
        "{line}"
    );

    // A new type: stopped, changed and started in place, never replaced.
    lab.write(&yaml.replace("type: t3.micro", "type: t3.small"));
    let r = lab.run(&["plan"]).ok();
    assert!(
        r.stdout().contains("type: t3.micro -> t3.small"),
        "{}",
        r.stdout()
    );
    let proxy = Proxy::start(&[]);
    lab.run_at(&proxy.url, &["apply", "--auto-approve"]).ok();
    let writes: Vec<String> = proxy
        .writes()
        .into_iter()
        .filter(|w| w.starts_with("ec2 "))
        .collect();
    assert_eq!(
        writes,
        vec![
            "ec2 StopInstances".to_owned(),
            "ec2 ModifyInstanceAttribute".to_owned(),
            "ec2 StartInstances".to_owned()
        ]
    );

    // Stopped by hand (as AWS Academy does at the end of a session): started again.
    let id = i.instance_id().unwrap().to_owned();
    ec2()
        .stop_instances()
        .instance_ids(&id)
        .send()
        .await
        .unwrap();
    let r = lab.run(&["plan", "--detailed-exitcode"]).code_is(2);
    assert!(
        r.stdout().contains("state: stopped -> running"),
        "{}",
        r.stdout()
    );
    lab.run(&["apply", "--auto-approve"]).ok();
    assert_eq!(
        instances(name).await[0]
            .state()
            .and_then(|s| s.name())
            .map(|s| s.as_str()),
        Some("running")
    );

    // Destroy: the instance is terminated, and only then its group, subnet and key go
    // (the proxy refuses, as AWS does, what an instance still uses).
    let proxy = Proxy::start(&["--dependencies"]);
    lab.run_at(
        &proxy.url,
        &["destroy", "--auto-approve", "--empty-buckets"],
    )
    .ok();
    assert!(
        proxy.injected_codes("dependency").is_empty(),
        "{:?}",
        proxy.injected_codes("dependency")
    );
    let order: Vec<String> = proxy
        .writes()
        .into_iter()
        .filter(|w| {
            [
                "ec2 TerminateInstances",
                "ec2 DeleteSecurityGroup",
                "ec2 DeleteSubnet",
                "ec2 DeleteKeyPair",
            ]
            .contains(&w.as_str())
        })
        .collect();
    assert_eq!(
        order.first().map(String::as_str),
        Some("ec2 TerminateInstances"),
        "{order:?}"
    );
    assert!(instances(name).await.is_empty());
    assert!(key_pairs(name).await.is_empty());
    assert!(
        !pem.exists(),
        "the private key of a deleted key pair is useless, and goes"
    );
}

const KEY_A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINCWQgZ4BwgB/jTKhlCHByM7cXs2uGYEDdBFYf++LR1C student@laptop\n";
const KEY_B: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDyaTtq19QEsY/4fVWbiiOSZlgCBY2YWPnKWd1olx9u/ student@laptop\n";

#[tokio::test]
async fn an_imported_key_stays_on_the_machine_and_a_new_one_replaces_the_instance() {
    let name = "t-ec2-key";
    let yaml = format!(
        "lab: {name}\nregion: us-east-1\ninstances:\n  box:\n    ami: al2023\n    key: {{ import: box.pub }}\n"
    );
    let lab = Lab::new(name, &yaml);
    std::fs::write(lab.dir.path().join("box.pub"), KEY_A).unwrap();
    lab.run(&["apply", "--auto-approve"]).ok();
    assert_eq!(key_pairs(name).await, vec![format!("{name}-box")]);
    assert!(
        !lab.dir.path().join(".labctl").exists(),
        "an imported key writes nothing"
    );
    let first = instances(name).await[0].instance_id().unwrap().to_owned();
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);

    std::fs::write(lab.dir.path().join("box.pub"), KEY_B).unwrap();
    let r = lab.run(&["plan"]).ok();
    let out = r.stdout();
    assert!(
        out.contains(&format!("-/+ ec2 key pair {name}-box"))
            && out.contains(&format!("-/+ ec2 instance {name}-box")),
        "{out}"
    );
    lab.run(&["apply", "--auto-approve"]).ok();
    let now = instances(name).await;
    assert_eq!(now.len(), 1);
    assert_ne!(now[0].instance_id().unwrap(), first);
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);
    lab.run(&["destroy", "--auto-approve"]).ok();
    assert!(instances(name).await.is_empty() && key_pairs(name).await.is_empty());
}

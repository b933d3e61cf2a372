//! The serverless lab: role, layer, functions, permissions and triggers, checked
//! through separate SDK clients.

use aws_sdk_s3::types::{Event, NotificationConfiguration, TopicConfiguration};

use crate::harness::{ACCOUNT, Lab, Proxy, adapt, bucket, events, iam, lambda, s3, shipped_lab};

#[tokio::test]
async fn shipped_lab_applies_converges_and_destroys() {
    let name = "t-ship";
    let lab = Lab::new(name, &shipped_lab(name, 100));
    lab.run(&["apply", "--auto-approve"]).ok();

    // Role: trust, inline policy (bucket ARNs resolved), managed policy, tags.
    let role = iam()
        .get_role()
        .role_name(format!("{name}-lambda"))
        .send()
        .await
        .unwrap();
    let role = role.role().unwrap();
    assert_eq!(role.path(), "/labctl/");
    let trust = percent_encoding::percent_decode_str(role.assume_role_policy_document().unwrap())
        .decode_utf8_lossy()
        .into_owned();
    assert!(trust.contains("lambda.amazonaws.com"), "{trust}");
    let doc = iam()
        .get_role_policy()
        .role_name(format!("{name}-lambda"))
        .policy_name("s3-access")
        .send()
        .await
        .unwrap();
    let doc = percent_encoding::percent_decode_str(doc.policy_document())
        .decode_utf8_lossy()
        .into_owned();
    assert!(
        doc.contains(&format!("arn:aws:s3:::{}/*", bucket(name, "source"))),
        "{doc}"
    );
    let attached = iam()
        .list_attached_role_policies()
        .role_name(format!("{name}-lambda"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        attached.attached_policies()[0].policy_name(),
        Some("AWSLambdaBasicExecutionRole")
    );

    // Functions: configuration and the code's hash.
    let f = lambda()
        .get_function()
        .function_name(format!("{name}-compress"))
        .send()
        .await
        .unwrap();
    let cfg = f.configuration().unwrap();
    assert_eq!(cfg.handler(), Some("app.handler"));
    assert_eq!(cfg.memory_size(), Some(1024));
    assert_eq!(cfg.role(), Some(role.arn()));
    let env = cfg.environment().unwrap().variables().unwrap();
    assert_eq!(env.get("DEST_BUCKET"), Some(&bucket(name, "backup")));
    assert_eq!(
        env.get("DEST_PREFIX").map(String::as_str),
        Some("compressed/")
    );
    let zip = labctl::package::zip_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lambdas/compress"),
    )
    .unwrap();
    assert_eq!(
        cfg.code_sha256(),
        Some(labctl::package::code_sha256(&zip).as_str())
    );
    assert_eq!(
        f.tags().unwrap().get("labctl:lab").map(String::as_str),
        Some(name)
    );
    // The layer holds Pillow for the declared platform, and compress uses it.
    let layer_arn = cfg.layers()[0].arn().unwrap().to_owned();
    assert!(
        layer_arn.contains(&format!(":layer:{name}-pillow:")),
        "{layer_arn}"
    );
    let versions = lambda()
        .list_layer_versions()
        .layer_name(format!("{name}-pillow"))
        .send()
        .await
        .unwrap();
    assert_eq!(versions.layer_versions().len(), 1);

    // Permissions: S3 may invoke backup (with SourceAccount), EventBridge may invoke compress.
    let pol = lambda()
        .get_policy()
        .function_name(format!("{name}-backup"))
        .send()
        .await
        .unwrap();
    let pol = pol.policy().unwrap();
    assert!(
        pol.contains("s3.amazonaws.com")
            && pol.contains(&format!("arn:aws:s3:::{}", bucket(name, "source")))
            && pol.contains(ACCOUNT),
        "{pol}"
    );
    let pol = lambda()
        .get_policy()
        .function_name(format!("{name}-compress"))
        .send()
        .await
        .unwrap();
    assert!(pol.policy().unwrap().contains("events.amazonaws.com"));

    // Triggers: backup directly on every object; EventBridge on for compress's rule.
    let n = s3()
        .get_bucket_notification_configuration()
        .bucket(bucket(name, "source"))
        .send()
        .await
        .unwrap();
    assert_eq!(n.lambda_function_configurations().len(), 1);
    assert!(
        n.lambda_function_configurations()[0]
            .lambda_function_arn()
            .ends_with(&format!(":function:{name}-backup"))
    );
    assert!(n.event_bridge_configuration().is_some());
    let rule = events()
        .describe_rule()
        .name(format!("{name}-compress-0"))
        .send()
        .await
        .unwrap();
    let pattern = rule.event_pattern().unwrap();
    assert!(
        pattern.contains("equals-ignore-case")
            && pattern.contains(".jpeg")
            && pattern.contains(&bucket(name, "source")),
        "{pattern}"
    );
    let targets = events()
        .list_targets_by_rule()
        .rule(format!("{name}-compress-0"))
        .send()
        .await
        .unwrap();
    assert!(
        targets.targets()[0]
            .arn()
            .ends_with(&format!(":function:{name}-compress"))
    );

    // A rule disabled by hand is drift, and apply enables it again.
    events()
        .disable_rule()
        .name(format!("{name}-compress-0"))
        .send()
        .await
        .unwrap();
    let r = lab.run(&["plan", "--detailed-exitcode"]).code_is(2);
    assert!(
        r.stdout().contains("DISABLED") && r.stdout().contains("ENABLED"),
        "{}",
        r.stdout()
    );
    lab.run(&["apply", "--auto-approve"]).ok();
    let state = events()
        .describe_rule()
        .name(format!("{name}-compress-0"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        state.state(),
        Some(&aws_sdk_eventbridge::types::RuleState::Enabled)
    );

    // A second run makes no write call.
    let proxy = Proxy::start(&[]);
    lab.run_at(&proxy.url, &["apply", "--auto-approve"]).ok();
    assert_eq!(proxy.writes(), Vec::<String>::new());
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);

    // A foreign notification entry on the lab's bucket survives labctl's writes.
    let foreign = TopicConfiguration::builder()
        .id("someone-else")
        .topic_arn(format!("arn:aws:sns:us-east-1:{ACCOUNT}:audit"))
        .events(Event::from("s3:ObjectRemoved:*"))
        .build()
        .unwrap();
    let mut all = NotificationConfiguration::builder().topic_configurations(foreign);
    for l in n.lambda_function_configurations() {
        all = all.lambda_function_configurations(l.clone());
    }
    if let Some(eb) = n.event_bridge_configuration() {
        all = all.event_bridge_configuration(eb.clone());
    }
    s3().put_bucket_notification_configuration()
        .bucket(bucket(name, "source"))
        .notification_configuration(all.build())
        .send()
        .await
        .unwrap();
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);
    // EventBridge delivery someone turned on for the backup bucket stays on.
    s3().put_bucket_notification_configuration()
        .bucket(bucket(name, "backup"))
        .notification_configuration(
            NotificationConfiguration::builder()
                .event_bridge_configuration(
                    aws_sdk_s3::types::EventBridgeConfiguration::builder().build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);

    let c = s3();
    c.put_object()
        .bucket(bucket(name, "source"))
        .key("keep.txt")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let r = lab.run(&["destroy", "--auto-approve"]).code_is(1);
    assert!(r.stdout().contains("--empty-buckets"), "{}", r.stdout());
    // Everything else is gone; the kept bucket lost labctl's entries and kept the foreign one.
    assert!(
        lambda()
            .get_function()
            .function_name(format!("{name}-backup"))
            .send()
            .await
            .is_err()
    );
    assert!(
        lambda()
            .get_function()
            .function_name(format!("{name}-compress"))
            .send()
            .await
            .is_err()
    );
    assert!(
        iam()
            .get_role()
            .role_name(format!("{name}-lambda"))
            .send()
            .await
            .is_err()
    );
    assert!(
        events()
            .describe_rule()
            .name(format!("{name}-compress-0"))
            .send()
            .await
            .is_err()
    );
    let versions = lambda()
        .list_layer_versions()
        .layer_name(format!("{name}-pillow"))
        .send()
        .await
        .unwrap();
    assert!(versions.layer_versions().is_empty());
    let n = s3()
        .get_bucket_notification_configuration()
        .bucket(bucket(name, "source"))
        .send()
        .await
        .unwrap();
    assert!(n.lambda_function_configurations().is_empty());
    assert_eq!(
        n.topic_configurations().len(),
        1,
        "the foreign entry was removed"
    );
    lab.run(&["destroy", "--auto-approve", "--empty-buckets"])
        .ok();
    assert!(
        s3().head_bucket()
            .bucket(bucket(name, "source"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn each_edit_updates_only_what_changed() {
    let name = "t-edit";
    let dir = tempfile::tempdir().unwrap();
    // Own copies of the function code, to edit.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in ["backup", "compress"] {
        std::fs::create_dir_all(dir.path().join(f)).unwrap();
        std::fs::copy(
            root.join(format!("lambdas/{f}/app.py")),
            dir.path().join(format!("{f}/app.py")),
        )
        .unwrap();
    }
    let yaml = shipped_lab(name, 102).replace(
        &format!("{}/lambdas/", root.display()),
        &format!("{}/", dir.path().display()),
    );
    let lab = Lab::new(name, &yaml);
    lab.run(&["apply", "--auto-approve"]).ok();

    // Only a handler's source: only its code is uploaded.
    std::fs::write(
        dir.path().join("backup/app.py"),
        std::fs::read_to_string(dir.path().join("backup/app.py")).unwrap() + "\n# edited\n",
    )
    .unwrap();
    let proxy = Proxy::start(&[]);
    lab.run_at(&proxy.url, &["apply", "--auto-approve"]).ok();
    assert_eq!(proxy.writes(), vec!["lambda UpdateFunctionCode".to_owned()]);

    // Another architecture: the code goes up again, built for it.
    let arm = yaml.replacen(
        "architecture: x86_64\n    timeout: 60\n    memory: 256",
        "architecture: arm64\n    timeout: 60\n    memory: 256",
        1,
    );
    assert_ne!(arm, yaml, "the fixture names backup's architecture");
    lab.write(&arm);
    lab.run(&["apply", "--auto-approve"]).ok();
    let cfg = lambda()
        .get_function_configuration()
        .function_name(format!("{name}-backup"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        cfg.architectures(),
        [aws_sdk_lambda::types::Architecture::Arm64]
    );
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);
    lab.write(&yaml);
    lab.run(&["apply", "--auto-approve"]).ok();

    // Only an environment variable: only the configuration.
    lab.write(&yaml.replace("DEST_PREFIX: compressed/", "DEST_PREFIX: small/"));
    let proxy = Proxy::start(&[]);
    lab.run_at(&proxy.url, &["apply", "--auto-approve"]).ok();
    assert_eq!(
        proxy.writes(),
        vec!["lambda UpdateFunctionConfiguration".to_owned()]
    );
    let cfg = lambda()
        .get_function_configuration()
        .function_name(format!("{name}-compress"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        cfg.environment()
            .unwrap()
            .variables()
            .unwrap()
            .get("DEST_PREFIX")
            .map(String::as_str),
        Some("small/")
    );

    // Another Pillow pin: one new layer version, and compress moves to it.
    lab.write(
        &yaml
            .replace("DEST_PREFIX: compressed/", "DEST_PREFIX: small/")
            .replace("Pillow==11.1.0", "Pillow==11.0.0"),
    );
    let proxy = Proxy::start(&[]);
    lab.run_at(&proxy.url, &["apply", "--auto-approve"]).ok();
    assert_eq!(
        proxy.writes(),
        vec![
            "lambda PublishLayerVersion".to_owned(),
            "lambda UpdateFunctionConfiguration".to_owned()
        ]
    );
    let versions = lambda()
        .list_layer_versions()
        .layer_name(format!("{name}-pillow"))
        .send()
        .await
        .unwrap();
    assert_eq!(versions.layer_versions().len(), 2);
    let newest = versions
        .layer_versions()
        .iter()
        .max_by_key(|v| v.version())
        .unwrap()
        .layer_version_arn()
        .unwrap()
        .to_owned();
    let cfg = lambda()
        .get_function_configuration()
        .function_name(format!("{name}-compress"))
        .send()
        .await
        .unwrap();
    assert_eq!(cfg.layers()[0].arn(), Some(newest.as_str()));
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);
    lab.run(&["destroy", "--auto-approve", "--empty-buckets"])
        .ok();
}

#[tokio::test]
async fn an_existing_role_is_used_without_any_iam_write() {
    crate::harness::academy_extras().await;
    let name = "t-academy";
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    // LabRole as AWS Academy has it (once per moto server: tests share it).
    let _ = iam()
        .create_role()
        .role_name("LabRole")
        .assume_role_policy_document(trust)
        .send()
        .await;
    let role_arn = iam()
        .get_role()
        .role_name("LabRole")
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_owned();
    let academy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lab.academy.yaml");
    let yaml = adapt(&std::fs::read_to_string(academy).unwrap(), name, 104);
    let lab = Lab::new(name, &yaml);
    let proxy = Proxy::start(&[]);
    lab.run_at(&proxy.url, &["apply", "--auto-approve"]).ok();
    let iam_writes: Vec<String> = proxy
        .writes()
        .into_iter()
        .filter(|w| w.starts_with("iam "))
        .collect();
    assert_eq!(iam_writes, Vec::<String>::new());
    let cfg = lambda()
        .get_function_configuration()
        .function_name(format!("{name}-backup"))
        .send()
        .await
        .unwrap();
    assert_eq!(cfg.role(), Some(role_arn.as_str()));
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);

    // The instance runs with Academy's profile and key; `labctl ssh` finds the
    // labsuser.pem the Academy console hands out.
    let ec2 = aws_sdk_ec2::Client::new(&crate::harness::sdk());
    let found = ec2
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:labctl:lab")
                .values(name)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let i = &found.reservations()[0].instances()[0];
    assert_eq!(i.key_name(), Some("vockey"));
    assert!(
        i.iam_instance_profile()
            .and_then(|p| p.arn())
            .is_some_and(|a| a.ends_with(":instance-profile/LabInstanceProfile")),
        "{:?}",
        i.iam_instance_profile()
    );
    let home = lab.dir.path().join("home");
    std::fs::create_dir_all(home.join("Downloads")).unwrap();
    std::fs::write(home.join("Downloads/labsuser.pem"), "not a real key").unwrap();
    let ssh = lab.dir.path().join("fake-ssh");
    std::fs::write(&ssh, "#!/bin/sh\necho \"ssh $*\"\n").unwrap();
    std::fs::set_permissions(&ssh, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let r = crate::harness::labctl_env(
        crate::harness::moto(),
        &lab.path(),
        &["ssh", "web"],
        &[
            ("LABCTL_SSH", ssh.to_str().unwrap()),
            ("HOME", home.to_str().unwrap()),
        ],
    )
    .ok();
    assert!(
        r.stdout().contains(&format!(
            "-i {}",
            home.join("Downloads/labsuser.pem").display()
        )) && r.stdout().contains("ec2-user@"),
        "{}",
        r.stdout()
    );
    let proxy = Proxy::start(&[]);
    lab.run_at(
        &proxy.url,
        &["destroy", "--auto-approve", "--empty-buckets"],
    )
    .ok();
    assert!(
        proxy.writes().iter().all(|w| !w.starts_with("iam ")),
        "{:?}",
        proxy.writes()
    );
    assert!(
        iam().get_role().role_name("LabRole").send().await.is_ok(),
        "LabRole must never be deleted"
    );
    let keys = ec2.describe_key_pairs().send().await.unwrap();
    assert!(
        keys.key_pairs()
            .iter()
            .any(|k| k.key_name() == Some("vockey")),
        "vockey is Academy's, never labctl's to delete"
    );
    assert!(
        iam()
            .get_instance_profile()
            .instance_profile_name("LabInstanceProfile")
            .send()
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn what_is_not_the_labs_is_never_touched() {
    let name = "t-foreign";
    let lab = Lab::new(name, &shipped_lab(name, 106));
    // A rule with the name the lab would use, not tagged as the lab's: a plan error.
    let rule = format!("{name}-compress-0");
    events()
        .put_rule()
        .name(&rule)
        .event_pattern(r#"{"source":["my.app"]}"#)
        .send()
        .await
        .unwrap();
    let r = lab.run(&["plan"]).code_is(1);
    assert!(
        r.stderr().contains(&format!(
            "EventBridge rule `{rule}` exists without labctl's tag"
        )),
        "{}",
        r.stderr()
    );
    events().delete_rule().name(&rule).send().await.unwrap();

    // Someone's own bucket under a declared name, sending events to EventBridge:
    // destroy leaves its notifications alone.
    let theirs = bucket(name, "backup");
    s3().create_bucket().bucket(&theirs).send().await.unwrap();
    let eb = NotificationConfiguration::builder()
        .event_bridge_configuration(aws_sdk_s3::types::EventBridgeConfiguration::builder().build())
        .build();
    s3().put_bucket_notification_configuration()
        .bucket(&theirs)
        .notification_configuration(eb)
        .send()
        .await
        .unwrap();
    lab.run(&["destroy", "--auto-approve"]).ok();
    let n = s3()
        .get_bucket_notification_configuration()
        .bucket(&theirs)
        .send()
        .await
        .unwrap();
    assert!(
        n.event_bridge_configuration().is_some(),
        "destroy changed a bucket that is not the lab's"
    );
    assert!(s3().head_bucket().bucket(&theirs).send().await.is_ok());
}

#[tokio::test]
async fn a_layer_name_taken_by_someone_else_is_refused() {
    let name = "t-flayer";
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("python/util.py", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut w, b"X = 1\n").unwrap();
    let bytes = w.finish().unwrap().into_inner();
    let layer = format!("{name}-util");
    lambda()
        .publish_layer_version()
        .layer_name(&layer)
        .content(
            aws_sdk_lambda::types::LayerVersionContentInput::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(bytes.clone()))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("util.zip"), &bytes).unwrap();
    let lab = Lab::new(
        name,
        &format!(
            "lab: {name}\nregion: us-east-1\nlayers:\n  util:\n    zip: {}\n    runtimes: [python3.12]\n",
            dir.path().join("util.zip").display()
        ),
    );
    let r = lab.run(&["apply", "--auto-approve"]).code_is(1);
    assert!(
        r.stderr().contains("labctl published none of its versions"),
        "{}",
        r.stderr()
    );
    let versions = lambda()
        .list_layer_versions()
        .layer_name(&layer)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.layer_versions().len(), 1, "a version was added");
}

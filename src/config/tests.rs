//! One case per validation rule: the shipped lab passes, and each edit below breaks
//! exactly one rule, reported on the line that the edit touched.

use std::path::Path;

use super::parse_str;

fn shipped() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("lab.yaml"))
        .expect("lab.yaml")
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Replaces `from` (which must occur once) in the shipped lab, and checks the result
/// is rejected with one diagnostic on the line where `to` starts, containing `msg`.
#[track_caller]
fn rejects(from: &str, to: &str, msg: &str) {
    let first_line = to
        .trim_start_matches('\n')
        .lines()
        .next()
        .unwrap_or(to)
        .trim()
        .to_owned();
    rejects_on(from, to, msg, &first_line);
}

/// As `rejects`, for rules about a whole section: the error is expected on the first
/// line containing `anchor`.
#[track_caller]
fn rejects_on(from: &str, to: &str, msg: &str, anchor: &str) {
    let src = shipped();
    assert_eq!(
        src.matches(from).count(),
        1,
        "fixture `{from}` must occur once in lab.yaml"
    );
    let edited = src.replacen(from, to, 1);
    let line = edited
        .lines()
        .position(|l| l.contains(anchor))
        .map(|i| i + 1)
        .expect("anchor line");
    let errs = parse_str("lab.yaml", &edited, root())
        .expect_err("should be rejected")
        .items;
    assert!(
        errs.iter()
            .any(|d| d.message.contains(msg) || d.help.contains(msg)),
        "no `{msg}` in {errs:#?}"
    );
    let hit = errs
        .iter()
        .find(|d| d.message.contains(msg) || d.help.contains(msg))
        .unwrap();
    assert!(
        hit.pos.line >= line && hit.pos.line <= line + to.matches('\n').count(),
        "`{msg}` reported on line {}, edit was on line {line}",
        hit.pos.line
    );
}

#[track_caller]
fn accepts(from: &str, to: &str) {
    let edited = shipped().replacen(from, to, 1);
    if let Err(e) = parse_str("lab.yaml", &edited, root()) {
        panic!("should be accepted:\n{e}");
    }
}

#[test]
fn shipped_lab_is_valid() {
    parse_str("lab.yaml", &shipped(), root()).unwrap();
}

#[test]
fn lab_name() {
    accepts("lab: photo-lab", "lab: a2-b");
    rejects("lab: photo-lab", "lab: Photo", "lab name");
    rejects("lab: photo-lab", "lab: abcdefghijklmnopqrstu", "lab name");
    rejects("lab: photo-lab", "lab: -lab", "lab name");
}

#[test]
fn region() {
    parse_str("lab.yaml", "lab: x\nregion: us-west-2\n", root()).unwrap();
    rejects("region: us-east-1", "region: us-east-9", "unknown region");
}

#[test]
fn tags() {
    rejects(
        "tags: { course: cloud-101 }",
        "tags: { aws:course: x }",
        "reserved prefix",
    );
    rejects(
        "tags: { course: cloud-101 }",
        "tags: { labctl:x: y }",
        "labctl:",
    );
    rejects(
        "tags: { course: cloud-101 }",
        &format!("tags: {{ {}: x }}", "k".repeat(129)),
        "1-128",
    );
    rejects(
        "tags: { course: cloud-101 }",
        &format!("tags: {{ course: {} }}", "v".repeat(257)),
        "256",
    );
    rejects(
        "tags: { course: cloud-101 }",
        "tags: { course: \"a<b\" }",
        "characters",
    );
    let many: Vec<String> = (0..50).map(|i| format!("k{i}: v")).collect();
    rejects(
        "tags: { course: cloud-101 }",
        &format!("tags: {{ {} }}", many.join(", ")),
        "AWS allows 50",
    );
}

#[test]
fn bucket_names() {
    accepts(
        "name: ${lab}-source-${account_id}",
        "name: ${lab}-src-${region}",
    );
    rejects(
        "name: ${lab}-source-${account_id}",
        "name: ${lab}_Source",
        "bucket name",
    );
    rejects("name: ${lab}-source-${account_id}", "name: ab", "3-63");
    rejects(
        "name: ${lab}-source-${account_id}",
        "name: xn--${lab}",
        "xn--",
    );
    rejects(
        "name: ${lab}-source-${account_id}",
        "name: ${lab}-s3alias",
        "-s3alias",
    );
    rejects(
        "name: ${lab}-source-${account_id}",
        "name: 192.168.1.1",
        "IP address",
    );
    // S3 takes dots; they only break virtual-host HTTPS addressing: advice, not an error.
    accepts("name: ${lab}-source-${account_id}", "name: ${lab}.source");
    rejects(
        "name: ${lab}-source-${account_id}",
        "name: ${nope}-x",
        "unknown placeholder",
    );
    rejects(
        "name: ${lab}-source-${account_id}",
        "name: ${lab}-backup-${account_id}",
        "both resolve",
    );
    rejects_on(
        "    tags: { purpose: uploads }",
        "    tags: { purpose: uploads }\n    block_public_access: false",
        "allow_public",
        "block_public_access",
    );
}

#[test]
fn bucket_shape() {
    rejects(
        "    versioning: true\n    lifecycle:\n      - id: tiering",
        "    versioning: maybe\n    lifecycle:\n      - id: tiering",
        "true or false",
    );
    rejects(
        "    versioning: true\n    lifecycle:\n      - id: tiering",
        "    versionin: true\n    lifecycle:\n      - id: tiering",
        "did you mean `versioning`",
    );
    rejects(
        "    tags: { purpose: uploads }",
        "    tags: { purpose: uploads }\n    encryption: aes",
        "unknown encryption",
    );
}

#[test]
fn lifecycle_rules() {
    accepts(
        "{ days: 30, storage_class: STANDARD_IA }",
        "{ days: 31, storage_class: STANDARD_IA }",
    );
    rejects(
        "{ days: 30, storage_class: STANDARD_IA }",
        "{ days: 29, storage_class: STANDARD_IA }",
        "at least 30",
    );
    rejects(
        "{ days: 90, storage_class: GLACIER_IR }",
        "{ days: 90, storage_class: GLACIER_FLEXIBLE_RETRIEVAL }",
        "`GLACIER`",
    );
    rejects(
        "{ days: 90, storage_class: GLACIER_IR }",
        "{ days: 90, storage_class: STANDARD_IA }",
        "twice",
    );
    rejects(
        "{ days: 90, storage_class: GLACIER_IR }",
        "{ days: 50, storage_class: GLACIER_IR }",
        "30 days in STANDARD_IA",
    );
    rejects(
        "{ days: 90, storage_class: GLACIER_IR }",
        "{ days: 30, storage_class: GLACIER_IR }",
        "not after",
    );
    // Taken in order of days, whatever the order written.
    rejects_on(
        "{ days: 90, storage_class: GLACIER_IR }",
        "{ days: 20, storage_class: GLACIER_IR }",
        "waterfall",
        "days: 30, storage_class: STANDARD_IA",
    );
    rejects(
        "        expiration_days: 365",
        "        expiration_days: 60",
        "not after its last transition",
    );
    rejects(
        "        noncurrent_expiration_days: 30\n    tags",
        "        noncurrent_expiration_days: 0\n    tags",
        "at least 1",
    );
    rejects(
        "      - id: old-versions\n",
        "      - id: old-versions\n        expiration_days: 5\n      - id: old-versions\n",
        "used twice",
    );
    rejects(
        "      - id: old-versions\n        noncurrent_expiration_days: 30\n        abort_incomplete_multipart_days: 7",
        "      - id: old-versions",
        "does nothing",
    );
    rejects(
        "        abort_incomplete_multipart_days: 7",
        "        abort_incomplete_multipart_days: seven",
        "whole number",
    );
}

#[test]
fn transitions_in_any_order_and_shared_tag_keys_are_fine() {
    accepts(
        "          - { days: 30, storage_class: STANDARD_IA }\n          - { days: 90, storage_class: GLACIER_IR }",
        "          - { days: 90, storage_class: GLACIER_IR }\n          - { days: 30, storage_class: STANDARD_IA }",
    );
    // The same 30 keys on the lab and a bucket are 30 tags, not 60.
    let keys: Vec<String> = (0..30).map(|i| format!("k{i}: v")).collect();
    let lab_tags = format!("tags: {{ {} }}", keys.join(", "));
    let edited = shipped()
        .replacen("tags: { course: cloud-101 }", &lab_tags, 1)
        .replacen("tags: { purpose: uploads }", &lab_tags, 1);
    if let Err(e) = parse_str("lab.yaml", &edited, root()) {
        panic!("should be accepted:\n{e}");
    }
}

#[test]
fn yaml_core_schema_booleans_and_integers() {
    accepts(
        "    versioning: true\n    lifecycle:\n      - id: tiering",
        "    versioning: True\n    lifecycle:\n      - id: tiering",
    );
    accepts(
        "    timeout: 60\n    memory: 256",
        "    timeout: 0x3C\n    memory: 0o400",
    );
}

#[test]
fn placeholders_fill_every_string_and_leave_iam_variables_to_iam() {
    accepts(
        "tags: { course: cloud-101 }",
        "tags: { course: cloud-101, where: \"${region}\", lab: \"${lab}\" }",
    );
    accepts(
        "resources: [\"${buckets.source.arn}\"]",
        "resources: [\"${buckets.source.arn}\", \"${buckets.source.arn}/home/${aws:username}/*\"]",
    );
    rejects(
        "      - id: tiering",
        "      - id: \"${nope}-tiering\"",
        "unknown placeholder",
    );
    let lab = shipped().replacen(
        "      - id: tiering\n        prefix: uploads/",
        "      - id: \"${lab}-tiering\"\n        prefix: \"${lab}/\"",
        1,
    );
    let lab = parse_str("lab.yaml", &lab, root()).unwrap();
    let vars = crate::config::stand_in_vars(&lab);
    let (x, errs) = crate::config::expand(&lab, &vars);
    assert!(errs.is_empty(), "{errs:?}");
    let rule = &x.buckets["source"].lifecycle[0];
    assert_eq!(
        (rule.id.as_str(), rule.prefix.as_deref()),
        ("photo-lab-tiering", Some("photo-lab/"))
    );
}

#[test]
fn python_handlers_may_come_from_packages_imports_and_assignments() {
    let d = tempfile::tempdir().unwrap();
    let lab = |handler: &str| {
        format!(
            "lab: x\nregion: us-east-1\nrole:\n  name: r\nfunctions:\n  f:\n    code: {}\n    handler: {handler}\n    runtime: python3.12\n",
            d.path().display()
        )
    };
    std::fs::create_dir(d.path().join("pkg")).unwrap();
    std::fs::write(
        d.path().join("pkg/__init__.py"),
        "from .impl import handler\n",
    )
    .unwrap();
    std::fs::write(d.path().join("alias.py"), "handler = lambda e, c: None\n").unwrap();
    std::fs::write(
        d.path().join("method.py"),
        "class C:\n    def handler(self, e, c):\n        pass\n",
    )
    .unwrap();
    for ok in ["pkg.handler", "alias.handler"] {
        if let Err(e) = parse_str("lab.yaml", &lab(ok), root()) {
            panic!("{ok} should be accepted:\n{e}");
        }
    }
    let errs = parse_str("lab.yaml", &lab("method.handler"), root())
        .unwrap_err()
        .items;
    assert!(
        errs.iter()
            .any(|e| e.message.contains("defines no function")),
        "{errs:#?}"
    );
}

#[test]
fn custom_runtimes_take_any_handler() {
    accepts(
        "    handler: app.handler\n    runtime: python3.12",
        "    handler: bootstrap\n    runtime: provided.al2023",
    );
}

#[test]
fn role_rules() {
    rejects(
        "  name: ${lab}-lambda",
        "  name: ${lab} lambda",
        "role name",
    );
    rejects(
        "  trust: [lambda.amazonaws.com]",
        "  trust: [lambda.amazonaws.con]",
        "service principal",
    );
    rejects(
        "  managed_policies: [arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        "  managed_policies: [AWSLambdaBasicExecutionRole]",
        "policy ARN",
    );
    rejects("    s3-access:", "    s3 access:", "inline policy name");
    rejects(
        "{ effect: Allow, actions: [s3:ListBucket]",
        "{ effect: Permit, actions: [s3:ListBucket]",
        "neither Allow nor Deny",
    );
    rejects(
        "actions: [s3:ListBucket]",
        "actions: [ListBucket]",
        "service:Action",
    );
    rejects(
        "resources: [\"${buckets.source.arn}\"]",
        "resources: [\"${buckets.nope.arn}\"]",
        "not declared",
    );
    rejects(
        "resources: [\"${buckets.source.arn}\"]",
        "resources: [\"my-bucket\"]",
        "not an ARN",
    );
    let big: Vec<String> = (0..400)
        .map(|i| format!("\"arn:aws:s3:::bucket-number-{i}/*\""))
        .collect();
    rejects_on(
        "resources: [\"${buckets.source.arn}\"]",
        &format!("resources: [{}]", big.join(", ")),
        "10,240",
        "    s3-access:",
    );
    rejects(
        "role:\n  name: ${lab}-lambda",
        "role:\n  existing: LabRole\n  name: ${lab}-lambda",
        "cannot be combined",
    );
    rejects(
        "  trust: [lambda.amazonaws.com]",
        "  trust: [ec2.amazonaws.com]",
        "does not trust Lambda",
    );
    rejects(
        "resources: [\"${buckets.source.arn}\"]",
        "resources: [\"arn:aws\"]",
        "not an ARN",
    );
    let listing =
        "{ effect: Allow, actions: [s3:ListBucket], resources: [\"${buckets.source.arn}\"] }";
    accepts(
        listing,
        "{ effect: Allow, actions: [s3:ListBucket], resources: [\"${buckets.source.arn}\"], condition: { StringLikeIfExists: { \"s3:prefix\": [uploads/*] }, Bool: { \"aws:SecureTransport\": true } } }",
    );
    rejects(
        listing,
        "{ effect: Allow, actions: [s3:ListBucket], resources: [\"${buckets.source.arn}\"], condition: { StringEqualz: { \"s3:prefix\": x } } }",
        "not an IAM condition operator",
    );
    rejects(
        listing,
        "{ effect: Allow, actions: [s3:ListBucket], resources: [\"${buckets.source.arn}\"], condition: yes }",
        "not a map of condition operators",
    );
}

#[test]
fn functions_need_a_role_that_trusts_lambda() {
    let lab = "lab: x\nregion: us-east-1\nfunctions:\n  f:\n    code: lambdas/backup\n    handler: app.handler\n    runtime: python3.12\n";
    let errs = parse_str("lab.yaml", lab, root()).unwrap_err().items;
    assert!(
        errs.iter()
            .any(|d| d.pos.line == 4 && d.message.contains("needs a role")),
        "{errs:#?}"
    );
}

#[test]
fn layer_rules() {
    rejects(
        "    runtimes: [python3.12]\n    architecture: x86_64\n\nfunctions",
        "    runtimes: [python3.99]\n    architecture: x86_64\n\nfunctions",
        "unknown runtime",
    );
    rejects(
        "    requirements: [Pillow==11.1.0]",
        "    requirements: [\"--index-url=x\"]",
        "package specification",
    );
    rejects(
        "    requirements: [Pillow==11.1.0]",
        "    zip: nowhere.zip",
        "layer zip",
    );
    rejects(
        "    architecture: x86_64\n\nfunctions",
        "    architecture: aarch64\n\nfunctions",
        "`arm64`",
    );
}

#[test]
fn function_rules() {
    rejects(
        "    timeout: 60\n    memory: 256",
        "    timeout: 0\n    memory: 256",
        "1-900",
    );
    rejects("    memory: 256", "    memory: 64", "128-10240");
    rejects(
        "    handler: app.handler\n    runtime: python3.12\n    architecture: x86_64\n    timeout: 60\n    memory: 256",
        "    handler: app.nothere\n    runtime: python3.12\n    architecture: x86_64\n    timeout: 60\n    memory: 256",
        "defines no function",
    );
    rejects(
        "    code: lambdas/backup",
        "    code: lambdas/nothere",
        "does not exist",
    );
    rejects(
        "    handler: app.handler\n    runtime: python3.12\n    architecture: x86_64\n    timeout: 60\n    memory: 256",
        "    handler: apphandler\n    runtime: python3.12\n    architecture: x86_64\n    timeout: 60\n    memory: 256",
        "module.function",
    );
    rejects(
        "    runtime: python3.12\n    architecture: x86_64\n    layers",
        "    runtime: python3.9\n    architecture: x86_64\n    layers",
        "deprecated",
    );
    rejects(
        "    environment: { DEST_BUCKET: \"${buckets.backup.name}\" }",
        "    environment: { AWS_REGION: x }",
        "reserved",
    );
    rejects(
        "    environment: { DEST_BUCKET: \"${buckets.backup.name}\" }",
        "    environment: { 1BAD: x }",
        "not valid",
    );
    rejects(
        "    environment: { DEST_BUCKET: \"${buckets.backup.name}\" }",
        &format!("    environment: {{ BIG: {} }}", "x".repeat(4100)),
        "4 KB",
    );
    rejects(
        "    layers: [pillow]",
        "    layers: [pilow]",
        "did you mean `pillow`",
    );
    rejects(
        "    layers: [pillow]",
        "    layers: [pillow, pillow, pillow, pillow, pillow, pillow]",
        "allows 5",
    );
    rejects_on(
        "    runtime: python3.12\n    architecture: x86_64\n    layers",
        "    runtime: python3.13\n    architecture: x86_64\n    layers",
        "layer `pillow` is built for python3.12",
        "layers: [pillow]",
    );
    rejects_on(
        "    runtime: python3.12\n    architecture: x86_64\n    layers",
        "    runtime: python3.12\n    architecture: arm64\n    layers",
        "built for x86_64",
        "layers: [pillow]",
    );
    rejects(
        "  compress:\n",
        &format!("  {}:\n", "c".repeat(60)),
        "function name",
    );
}

#[test]
fn trigger_rules() {
    rejects(
        "      - { bucket: source, events: [\"s3:ObjectCreated:*\"] }",
        "      - { bucket: sourse, events: [\"s3:ObjectCreated:*\"] }",
        "did you mean `source`",
    );
    rejects(
        "      - { bucket: source, events: [\"s3:ObjectCreated:*\"] }",
        "      - { bucket: source, events: [\"s3:ObjectCreated\"] }",
        "unknown S3 event",
    );
    // Both functions directly on the same bucket with overlapping filters.
    rejects(
        ", suffix: [.jpg, .jpeg], via: eventbridge }",
        ", suffix: [.jpg, .jpeg] }",
        "via: eventbridge",
    );
    accepts(
        "      - { bucket: source, events: [\"s3:ObjectCreated:*\"] }",
        "      - { bucket: source, events: [\"s3:ObjectCreated:*\"], prefix: uploads/ }",
    );
    rejects(
        "      - { bucket: source, events: [\"s3:ObjectCreated:*\"] }",
        "      - { bucket: backup, events: [\"s3:ObjectCreated:*\"] }",
        "triggers it",
    );
    rejects(
        ", suffix: [.jpg, .jpeg], via: eventbridge }",
        ", suffix: [\"*.jpg\"], via: eventbridge }",
        "literal",
    );
    rejects(
        ", suffix: [.jpg, .jpeg], via: eventbridge }",
        ", suffix: [.jpg], via: sqs }",
        "unknown trigger route",
    );
    let backup = "      - { bucket: source, events: [\"s3:ObjectCreated:*\"] }";
    let many: Vec<String> = (0..100).map(|i| format!(".x{i}")).collect();
    rejects(
        ", suffix: [.jpg, .jpeg], via: eventbridge }",
        &format!(", suffix: [{}], via: eventbridge }}", many.join(", ")),
        "EventBridge allows 2,048",
    );
    rejects(
        "    layers: [pillow]",
        "    layers: [pillow, pillow]",
        "listed twice",
    );
    rejects(
        backup,
        "      - { bucket: source, events: [\"s3:ObjectCreated:*\"], suffix: [.jpg, jpg] }",
        "suffixes `.jpg` and `jpg`",
    );
    accepts(
        backup,
        "      - { bucket: source, events: [\"s3:LifecycleTransition\", \"s3:ObjectRestore:Delete\"] }",
    );
    // A function whose destination names the trigger's bucket feeds itself...
    rejects_on(
        "    environment: { DEST_BUCKET: \"${buckets.backup.name}\" }",
        "    environment: { DEST_BUCKET: \"s3://${buckets.source.name}/copies/\" }",
        "triggers it",
        "bucket: source, events: [\"s3:ObjectCreated:*\"] }",
    );
    // A variable that names where the function reads is no write.
    accepts(
        "    environment: { DEST_BUCKET: \"${buckets.backup.name}\" }",
        "    environment: { DEST_BUCKET: \"${buckets.backup.name}\", SOURCE_BUCKET: \"${buckets.source.name}\" }",
    );
    // ...unless only removals trigger it.
    accepts(
        backup,
        "      - { bucket: backup, events: [\"s3:ObjectRemoved:*\"] }",
    );
}

#[test]
fn network_rules() {
    rejects(
        "{ cidr: 172.31.96.0/24, az: us-east-1a }",
        "{ cidr: 10.0.0.0/24, az: us-east-1a }",
        "outside the default VPC",
    );
    rejects(
        "{ cidr: 172.31.96.0/24, az: us-east-1a }",
        "{ cidr: 172.31.96.0/29, az: us-east-1a }",
        "/16 to /28",
    );
    rejects(
        "{ cidr: 172.31.96.0/24, az: us-east-1a }",
        "{ cidr: 172.31.96.5/24, az: us-east-1a }",
        "host bits",
    );
    rejects(
        "{ cidr: 172.31.97.0/24, az: us-east-1b }",
        "{ cidr: 172.31.96.0/23, az: us-east-1b }",
        "overlaps",
    );
    rejects(
        "{ cidr: 172.31.96.0/24, az: us-east-1a }",
        "{ cidr: 172.31.96.0/24, az: eu-west-1a }",
        "availability zone",
    );
    accepts(
        "{ cidr: 172.31.96.0/24, az: us-east-1a }",
        "{ cidr: 172.31.96.0/24, az: use1-az1 }",
    );
    rejects(
        "      description: SSH into lab machines",
        "      description: \"SSH into lab machines ünïcode\"",
        "description",
    );
    rejects(
        "{ protocol: tcp, port: 22, cidr: 203.0.113.0/24 }",
        "{ protocol: tcp, port: 22, cidr: 0.0.0.0/0 }",
        "whole internet",
    );
    accepts(
        "{ protocol: tcp, port: 22, cidr: 203.0.113.0/24 }",
        "{ protocol: tcp, port: 22, cidr: 0.0.0.0/0, allow_world: true }",
    );
    rejects(
        "{ protocol: tcp, port: 22, cidr: 203.0.113.0/24 }",
        "{ protocol: tcp, port: 22, cidr: \"::/0\" }",
        "whole internet",
    );
    rejects(
        "{ protocol: tcp, port: 22, cidr: 203.0.113.0/24 }",
        "{ protocol: sctp, port: 22, cidr: 203.0.113.0/24 }",
        "unknown protocol",
    );
    rejects(
        "{ protocol: tcp, port: 22, cidr: 203.0.113.0/24 }",
        "{ protocol: tcp, port: 70000, cidr: 203.0.113.0/24 }",
        "out of range",
    );
    rejects("ports: 60000-61000", "ports: 61000-60000", "backwards");
    rejects(
        "{ protocol: tcp, port: 22, cidr: 203.0.113.0/24 }",
        "{ protocol: tcp, port: 22, group: nope }",
        "not declared",
    );
    rejects(
        "{ protocol: tcp, port: 22, cidr: 203.0.113.0/24 }",
        "{ protocol: tcp, cidr: 203.0.113.0/24 }",
        "needs `port`",
    );
    rejects("  vpc: default", "  vpc: vpc-123", "not supported");
    // The name EC2 sees is `<lab>-<group>`: a lab named `sg` makes `sg-ssh`.
    rejects_on(
        "lab: photo-lab",
        "lab: sg",
        "security group name",
        "    ssh:",
    );
    let renamed = shipped()
        .replacen("    ssh:\n", "    sg-ssh:\n", 1)
        .replace("security_groups: [ssh]", "security_groups: [sg-ssh]");
    if let Err(e) = parse_str("lab.yaml", &renamed, root()) {
        panic!("should be accepted:\n{e}");
    }
    // CIDRs exactly as EC2 writes them back, or the plan would never converge.
    rejects(
        "{ cidr: 172.31.96.0/24, az: us-east-1a }",
        "{ cidr: 172.31.96.0/024, az: us-east-1a }",
        "write `172.31.96.0/24`",
    );
    rejects(
        "{ protocol: tcp, port: 22, cidr: 203.0.113.0/24 }",
        "{ protocol: tcp, port: 22, cidr: 203.0.113.0/+24 }",
        "write `203.0.113.0/24`",
    );
    rejects(
        "{ protocol: tcp, port: 22, cidr: 203.0.113.0/24 }",
        "{ protocol: tcp, port: 22, cidr: \"2001:DB8:0000::/32\" }",
        "write `2001:db8::/32`",
    );
    // ICMP takes a type and a code, which need not ascend.
    accepts(
        "{ protocol: tcp, port: 22, cidr: 203.0.113.0/24 }",
        "{ protocol: icmp, ports: 8-0, cidr: 203.0.113.0/24 }",
    );
    accepts(
        "{ protocol: tcp, port: 22, cidr: 203.0.113.0/24 }",
        "{ protocol: icmp, port: 8, cidr: 203.0.113.0/24 }",
    );
    rejects(
        "{ protocol: tcp, port: 22, cidr: 203.0.113.0/24 }",
        "{ protocol: icmp, port: 300, cidr: 203.0.113.0/24 }",
        "ICMP type or code",
    );
    accepts(
        "{ protocol: tcp, port: 22, cidr: 203.0.113.0/24 }",
        "{ protocol: icmpv6, port: 128, cidr: \"2001:db8::/32\" }",
    );
    rejects(
        "{ protocol: tcp, port: 22, cidr: 203.0.113.0/24 }",
        "{ protocol: all, port: 443, cidr: 203.0.113.0/24 }",
        "takes no port",
    );
    rejects(
        "{ protocol: tcp, port: 22, cidr: 203.0.113.0/24 }",
        "{ protocol: icmp, port: 8, cidr: \"2001:db8::/32\" }",
        "use `protocol: icmpv6`",
    );
    rejects(
        "{ protocol: tcp, port: 22, cidr: 203.0.113.0/24 }",
        "{ protocol: tcp, port: 22, cidr: 203.0.113.0/24, description: \"café\" }",
        "rule description",
    );
    // 60 rules per group are counted apart for IPv4 and IPv6.
    let rules = |n: usize, v6: bool| -> String {
        (0..n)
            .map(|i| {
                if v6 {
                    format!(
                        "\n        - {{ protocol: tcp, port: {}, cidr: \"2001:db8::/32\" }}",
                        1000 + i
                    )
                } else {
                    format!(
                        "\n        - {{ protocol: tcp, port: {}, cidr: 203.0.113.0/24 }}",
                        1000 + i
                    )
                }
            })
            .collect()
    };
    let ingress = "      ingress:\n        - { protocol: tcp, port: 22, cidr: 203.0.113.0/24 }";
    accepts(
        ingress,
        &format!("      ingress:{}{}", rules(40, false), rules(30, true)),
    );
    rejects_on(
        ingress,
        &format!("      ingress:{}", rules(61, false)),
        "IPv4 ingress rules; EC2 allows 60",
        "    ssh:",
    );
    rejects_on(
        "{ cidr: 172.31.96.0/24, az: us-east-1a }",
        "{ cidr: 172.31.96.0/24, az: us-east-1a, tags: { Name: mine } }",
        "sets the tag Name",
        "lab-a:",
    );
    // A subnet carries the lab's tags, its own, labctl's and Name: 50 at most.
    // 48 + the lab's `course` + labctl:lab + Name = 51.
    let many: Vec<String> = (0..48).map(|i| format!("k{i}: v")).collect();
    rejects_on(
        "{ cidr: 172.31.96.0/24, az: us-east-1a }",
        &format!(
            "{{ cidr: 172.31.96.0/24, az: us-east-1a, tags: {{ {} }} }}",
            many.join(", ")
        ),
        "would carry 51 tags",
        "lab-a:",
    );
}

#[test]
fn yaml_shape() {
    rejects(
        "region: us-east-1",
        "region: us-east-1\nregion: us-west-2",
        "duplicate key",
    );
    rejects(
        "region: us-east-1",
        "regoin: us-east-1",
        "did you mean `region`",
    );
    // The parser notices an unclosed list where the next key starts.
    rejects_on("region: us-east-1", "region: [us-east-1", "syntax", "tags:");
    rejects("region: us-east-1", "region: *anchor", "");
}

/// Mutations of the shipped lab (deleted, duplicated and replaced spans of YAML-ish
/// characters) must give a lab or diagnostics, never a panic, and every diagnostic
/// must point inside the file.
#[test]
fn mutated_labs_never_panic() {
    let src = shipped();
    let alphabet: Vec<char> = "abz019 :-[]{},\n\t'\"#&*!|>%@`$\\/.~ü".chars().collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    for _ in 0..2000 {
        let mut chars: Vec<char> = src.chars().collect();
        for _ in 0..1 + next(4) {
            let at = next(chars.len());
            let len = next(12).min(chars.len() - at);
            match next(3) {
                0 => {
                    chars.drain(at..at + len);
                }
                1 => {
                    let copy: Vec<char> = chars[at..at + len].to_vec();
                    chars.splice(at..at, copy);
                }
                _ => {
                    let repl: Vec<char> =
                        (0..len).map(|_| alphabet[next(alphabet.len())]).collect();
                    chars.splice(at..at + len, repl);
                }
            }
        }
        let text: String = chars.into_iter().collect();
        let lines = text.lines().count().max(1) + 1;
        if let Err(d) = parse_str("lab.yaml", &text, root()) {
            assert!(!d.items.is_empty());
            for item in &d.items {
                assert!(
                    item.pos.line >= 1 && item.pos.line <= lines,
                    "line {} outside the file:\n{text}\n{d}",
                    item.pos.line
                );
                assert!(!item.help.is_empty(), "no help for {}", item.message);
            }
        }
    }
}

mod fuzz {
    //! Property tests of the parser and validator: any input gives a lab or diagnostics
    //! inside the file with a hint, never a panic. `PROPTEST_CASES` sets the effort
    //! (scripts/fuzz.sh runs it for minutes; crashes found are kept in tests/corpus).
    use proptest::prelude::*;

    use super::{parse_str, root, shipped};

    fn check(text: &str) {
        // YAML breaks lines at CR as well as LF (and CRLF), as editors do.
        let lines = text
            .replace("\r\n", "\n")
            .replace('\r', "\n")
            .lines()
            .count()
            .max(1)
            + 1;
        if let Err(d) = parse_str("lab.yaml", text, root()) {
            assert!(!d.items.is_empty());
            for item in &d.items {
                assert!(
                    item.pos.line >= 1 && item.pos.line <= lines,
                    "line {} outside the file",
                    item.pos.line
                );
                assert!(!item.help.is_empty(), "no help for {}", item.message);
            }
        }
    }

    /// Pieces lab files are made of, so generated inputs get past the YAML parser.
    const TOKENS: &[&str] = &[
        "lab: ",
        "region: ",
        "buckets:",
        "functions:",
        "layers:",
        "role:",
        "network:",
        "tags:",
        "name: ",
        "versioning: ",
        "lifecycle:",
        "transitions:",
        "days: ",
        "storage_class: ",
        "triggers:",
        "bucket: ",
        "events: ",
        "suffix: ",
        "via: ",
        "code: ",
        "handler: ",
        "runtime: ",
        "subnets:",
        "security_groups:",
        "ingress:",
        "cidr: ",
        "port: ",
        "ports: ",
        "protocol: ",
        "existing: ",
        "policies:",
        "actions: ",
        "resources: ",
        "\n",
        "\n  ",
        "\n    ",
        "\n      ",
        "- ",
        "{ ",
        " }",
        "[",
        "]",
        ", ",
        "true",
        "false",
        "30",
        "-1",
        "99999999999",
        "${lab}",
        "${account_id}",
        "${buckets.a.arn}",
        "${",
        "STANDARD_IA",
        "GLACIER",
        "python3.12",
        "x86_64",
        "172.31.96.0/24",
        "0.0.0.0/0",
        "tcp",
        "a",
        "b",
        "\"",
        "'",
        "#",
        "&x",
        "*x",
        "!!str ",
        "---",
        "...",
        "|",
        ">",
        "?",
        "ü",
        "\t",
    ];

    proptest! {
        #[test]
        fn arbitrary_text(text in "\\PC*") {
            check(&text);
        }

        #[test]
        fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            check(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn token_soup(picks in proptest::collection::vec(0..TOKENS.len(), 0..200)) {
            let text: String = picks.iter().map(|&i| TOKENS[i]).collect();
            check(&text);
        }

        #[test]
        fn shipped_lab_with_a_span_replaced(at in 0usize..4000, len in 0usize..40, picks in proptest::collection::vec(0..TOKENS.len(), 0..6)) {
            let src: Vec<char> = shipped().chars().collect();
            let at = at.min(src.len());
            let end = (at + len).min(src.len());
            let mut text: String = src[..at].iter().collect();
            text.extend(picks.iter().map(|&i| TOKENS[i]));
            text.extend(src[end..].iter());
            check(&text);
        }
    }
}

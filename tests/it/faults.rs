//! Faults: throttling and 5xx answers, answers lost after the call took effect, a
//! killed process, Ctrl-C, expired credentials and two runs at once. Each scenario
//! ends with nothing tagged as the lab's left anywhere, and no user object lost.
//!
//! Seeds and kill points are few here (the README's test command); `scripts/soak.sh`
//! runs the same tests with LABCTL_FAULT_SEEDS and LABCTL_CRASH_POINTS raised.

use std::time::{Duration, Instant};

use aws_sdk_ec2::types::Filter;
use aws_sdk_s3::primitives::ByteStream;

use crate::harness::{Lab, Proxy, Run, bucket, events, iam, lambda, s3, sdk, shipped_lab, spawn};

fn seeds() -> Vec<u64> {
    let n: u64 = std::env::var("LABCTL_FAULT_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    (1..=n).collect()
}

fn ec2() -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&sdk())
}

/// Everything of lab `name`, counted through separate clients: (what, how many).
async fn owned(name: &str) -> Vec<(String, usize)> {
    let tagged = |t: &[(String, String)]| t.iter().any(|(k, v)| k == "labctl:lab" && v == name);
    let mut out = Vec::new();
    let c = s3();
    let mut n = 0;
    for b in c.list_buckets().send().await.unwrap().buckets() {
        if let Ok(t) = c
            .get_bucket_tagging()
            .bucket(b.name().unwrap())
            .send()
            .await
        {
            let t: Vec<(String, String)> = t
                .tag_set()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect();
            n += usize::from(tagged(&t));
        }
    }
    out.push(("buckets".into(), n));
    let fns = lambda().list_functions().send().await.unwrap();
    out.push((
        "functions".into(),
        fns.functions()
            .iter()
            .filter(|f| {
                f.function_name()
                    .unwrap_or_default()
                    .starts_with(&format!("{name}-"))
            })
            .count(),
    ));
    let versions = lambda()
        .list_layer_versions()
        .layer_name(format!("{name}-pillow"))
        .send()
        .await
        .map(|v| v.layer_versions().len())
        .unwrap_or(0);
    out.push(("layer versions".into(), versions));
    let roles = iam()
        .list_roles()
        .path_prefix("/labctl/")
        .send()
        .await
        .unwrap();
    out.push((
        "roles".into(),
        roles
            .roles()
            .iter()
            .filter(|r| r.role_name().starts_with(&format!("{name}-")))
            .count(),
    ));
    let rules = events()
        .list_rules()
        .name_prefix(format!("{name}-"))
        .send()
        .await
        .unwrap();
    out.push(("rules".into(), rules.rules().len()));
    let by_tag = Filter::builder()
        .name("tag:labctl:lab")
        .values(name)
        .build();
    out.push((
        "subnets".into(),
        ec2()
            .describe_subnets()
            .filters(by_tag.clone())
            .send()
            .await
            .unwrap()
            .subnets()
            .len(),
    ));
    out.push((
        "security groups".into(),
        ec2()
            .describe_security_groups()
            .filters(by_tag.clone())
            .send()
            .await
            .unwrap()
            .security_groups()
            .len(),
    ));
    let alive = Filter::builder()
        .name("instance-state-name")
        .values("pending")
        .values("running")
        .values("stopping")
        .values("stopped")
        .build();
    out.push((
        "instances".into(),
        ec2()
            .describe_instances()
            .filters(by_tag.clone())
            .filters(alive)
            .send()
            .await
            .unwrap()
            .reservations()
            .iter()
            .map(|r| r.instances().len())
            .sum(),
    ));
    out.push((
        "key pairs".into(),
        ec2()
            .describe_key_pairs()
            .filters(by_tag)
            .send()
            .await
            .unwrap()
            .key_pairs()
            .len(),
    ));
    out
}

fn expect(counts: &[(&str, usize)]) -> Vec<(String, usize)> {
    counts.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// The shipped lab, exactly once each.
fn full() -> Vec<(String, usize)> {
    expect(&[
        ("buckets", 2),
        ("functions", 2),
        ("layer versions", 1),
        ("roles", 1),
        ("rules", 1),
        ("subnets", 2),
        ("security groups", 1),
        ("instances", 1),
        ("key pairs", 1),
    ])
}

fn nothing() -> Vec<(String, usize)> {
    expect(&[
        ("buckets", 0),
        ("functions", 0),
        ("layer versions", 0),
        ("roles", 0),
        ("rules", 0),
        ("subnets", 0),
        ("security groups", 0),
        ("instances", 0),
        ("key pairs", 0),
    ])
}

async fn upload(name: &str, n: usize) {
    for i in 0..n {
        s3().put_object()
            .bucket(bucket(name, "source"))
            .key(format!("uploads/photo {i}.jpg"))
            .body(ByteStream::from(vec![1u8; 64]))
            .send()
            .await
            .unwrap();
    }
}

async fn objects(name: &str) -> usize {
    let v = s3()
        .list_object_versions()
        .bucket(bucket(name, "source"))
        .send()
        .await
        .unwrap();
    v.versions().len() + v.delete_markers().len()
}

/// Runs `args` through a fresh faulty proxy; if it fails, runs once more without faults.
/// Also says whether the first run succeeded and how many answers were dropped.
fn converge(lab: &Lab, proxy_args: &[&str], args: &[&str]) -> (bool, usize) {
    let proxy = Proxy::start(proxy_args);
    let first = lab.run_at(&proxy.url, args);
    let dropped = proxy
        .calls()
        .iter()
        .filter(|c| c.injected.as_deref() == Some("dropped"))
        .count();
    if first.code() != 0 {
        lab.run(args).ok();
    }
    (first.code() == 0, dropped)
}

fn injected(proxy: &Proxy) -> usize {
    proxy
        .calls()
        .iter()
        .filter(|c| c.injected.is_some())
        .count()
}

#[tokio::test]
async fn transient_errors_are_retried_and_user_data_survives() {
    let (mut faults, mut runs) = (0, 0);
    for seed in seeds() {
        let name = format!("t-err{seed}");
        let lab = Lab::new(&name, &shipped_lab(&name, 130 + 2 * seed as u8));
        let fault = ["--error-rate", "0.1", "--seed", &seed.to_string()];
        let proxy = Proxy::start(&fault);
        lab.run_at(&proxy.url, &["apply", "--auto-approve"]).ok();
        assert!(injected(&proxy) > 0, "seed {seed}: no fault was injected");
        faults += injected(&proxy);
        lab.run(&["plan", "--detailed-exitcode"]).code_is(0);
        assert_eq!(owned(&name).await, full(), "seed {seed}");

        upload(&name, 5).await;
        // Without --empty-buckets, faults or not, the user's objects stay.
        let proxy = Proxy::start(&fault);
        let r = lab
            .run_at(&proxy.url, &["destroy", "--auto-approve"])
            .code_is(1);
        assert!(r.stdout().contains("--empty-buckets"), "{}", r.stdout());
        assert_eq!(objects(&name).await, 5, "seed {seed}: objects were lost");
        faults += injected(&proxy);

        let proxy = Proxy::start(&fault);
        lab.run_at(
            &proxy.url,
            &["destroy", "--auto-approve", "--empty-buckets"],
        )
        .ok();
        faults += injected(&proxy);
        runs += 3;
        assert_eq!(owned(&name).await, nothing(), "seed {seed}");
    }
    eprintln!(
        "SOAK transient errors: {} seeds, {runs} runs under 10% throttling/5xx, {faults} errors injected, every run converged in one run; 0 duplicates, 0 orphans, 0 objects lost",
        seeds().len()
    );
}

#[tokio::test]
async fn not_ready_answers_are_waited_out() {
    // What real AWS answers while it catches up, and moto never does: S3's
    // OperationAborted on a bucket's config writes, a role Lambda cannot assume yet, a
    // function busy with an update, a new group EC2 does not know yet.
    let mut kinds = std::collections::BTreeSet::new();
    let mut refused = 0;
    for seed in seeds() {
        let name = format!("t-busy{seed}");
        let yaml = shipped_lab(&name, 210 + 2 * seed as u8);
        let lab = Lab::new(&name, &yaml);
        // Each such call is refused once, and then at random.
        let fault = [
            "--not-ready-first",
            "1",
            "--not-ready-rate",
            "0.2",
            "--seed",
            &seed.to_string(),
        ];
        let proxy = Proxy::start(&fault);
        lab.run_at(&proxy.url, &["apply", "--auto-approve"]).ok();
        lab.run(&["plan", "--detailed-exitcode"]).code_is(0);
        assert_eq!(owned(&name).await, full(), "seed {seed}");
        // An update that Lambda first refuses as busy.
        lab.write(&yaml.replace("memory: 256", "memory: 320"));
        let update = Proxy::start(&["--not-ready-first", "1"]);
        lab.run_at(&update.url, &["apply", "--auto-approve"]).ok();
        lab.run(&["plan", "--detailed-exitcode"]).code_is(0);
        for p in [&proxy, &update] {
            refused += injected(p);
            kinds.extend(
                p.calls()
                    .into_iter()
                    .filter(|c| c.injected.as_deref() == Some("not-ready"))
                    .map(|c| c.action),
            );
        }
        lab.run(&["destroy", "--auto-approve", "--empty-buckets"])
            .ok();
        assert_eq!(owned(&name).await, nothing(), "seed {seed}");
    }
    assert!(
        [
            "PutBucketVersioning",
            "PutBucketNotificationConfiguration",
            "CreateFunction",
            "AddPermission",
            "UpdateFunctionConfiguration",
            "AuthorizeSecurityGroupIngress",
        ]
        .iter()
        .all(|k| kinds.contains(*k)),
        "too few kinds of not-ready answers were injected: {kinds:?}"
    );
    eprintln!(
        "SOAK not ready: {} seeds, {refused} not-ready answers ({}) waited out, every run converged in one run",
        seeds().len(),
        kinds.into_iter().collect::<Vec<_>>().join(", ")
    );
}

#[tokio::test]
async fn lost_answers_never_make_a_second_copy() {
    let (mut dropped, mut first, mut reruns) = (0, 0, 0);
    let mut tally = |(ok, d): (bool, usize)| {
        dropped += d;
        if ok { first += 1 } else { reruns += 1 }
    };
    for seed in seeds() {
        let name = format!("t-drop{seed}");
        let lab = Lab::new(&name, &shipped_lab(&name, 170 + 2 * seed as u8));
        let fault = [
            "--drop-after-rate",
            "0.05",
            "--seed",
            &(seed + 100).to_string(),
        ];
        tally(converge(&lab, &fault, &["apply", "--auto-approve"]));
        lab.run(&["plan", "--detailed-exitcode"]).code_is(0);
        assert_eq!(
            owned(&name).await,
            full(),
            "seed {seed}: a duplicate or a missing resource"
        );
        for f in ["backup", "compress"] {
            let p = lambda()
                .get_policy()
                .function_name(format!("{name}-{f}"))
                .send()
                .await
                .unwrap();
            let doc: serde_json::Value = serde_json::from_str(p.policy().unwrap()).unwrap();
            assert_eq!(
                doc["Statement"].as_array().unwrap().len(),
                1,
                "seed {seed}: duplicate permission statements on {f}"
            );
        }
        upload(&name, 3).await;
        tally(converge(&lab, &fault, &["apply", "--auto-approve"]));
        assert_eq!(objects(&name).await, 3);
        tally(converge(
            &lab,
            &fault,
            &["destroy", "--auto-approve", "--empty-buckets"],
        ));
        assert_eq!(owned(&name).await, nothing(), "seed {seed}");
    }
    eprintln!(
        "SOAK lost answers: {} seeds, {} runs with 5% of write answers dropped, {dropped} answers dropped, {first} runs converged in one run, {reruns} on the rerun; 0 duplicates, 0 orphans, 0 objects lost",
        seeds().len(),
        first + reruns
    );
}

/// Waits until the proxy has logged `n` calls (or `writes` write calls), or the child exits.
fn wait_calls(proxy: &Proxy, n: usize, writes: bool, child: &mut std::process::Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let calls = proxy.calls();
        let seen = if writes {
            calls.iter().filter(|c| c.write).count()
        } else {
            calls.len()
        };
        if seen >= n {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[tokio::test]
async fn a_killed_apply_is_finished_by_the_next_run() {
    let name = "t-crash";
    let lab = Lab::new(name, &shipped_lab(name, 150));
    // How many calls a cold apply makes, to spread the kill points over it.
    let proxy = Proxy::start(&[]);
    lab.run_at(&proxy.url, &["apply", "--auto-approve"]).ok();
    let total = proxy.calls().len();
    lab.run(&["destroy", "--auto-approve", "--empty-buckets"])
        .ok();
    let points: usize = std::env::var("LABCTL_CRASH_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    for p in 1..=points {
        let at = total * p / (points + 1);
        let proxy = Proxy::start(&["--latency-ms", "5"]);
        let mut child = spawn(&proxy.url, &lab.path(), &["apply", "--auto-approve"]);
        let hit = wait_calls(&proxy, at, false, &mut child);
        child.kill().unwrap(); // SIGKILL: no cleanup of any kind
        let _ = child.wait();
        let r = lab.run(&["apply", "--auto-approve"]);
        assert_eq!(
            r.code(),
            0,
            "kill at call {at}/{total} (hit: {hit}): the next apply failed\n{}\n{}",
            r.stdout(),
            r.stderr()
        );
        lab.run(&["plan", "--detailed-exitcode"]).code_is(0);
        assert_eq!(owned(name).await, full(), "kill at call {at}");
        lab.run(&["destroy", "--auto-approve", "--empty-buckets"])
            .ok();
        assert_eq!(owned(name).await, nothing(), "kill at call {at}");
    }
    eprintln!(
        "SOAK kills: {points} SIGKILLs spread over a {total}-call cold apply, each finished by the next apply; 0 duplicates, 0 orphans"
    );
}

#[tokio::test]
async fn an_untagged_bucket_is_taken_over_only_with_adopt() {
    let name = "t-untagged";
    let lab = Lab::new(name, &shipped_lab(name, 156));
    // labctl creates its buckets with their tags, so an untagged one with a declared
    // name is someone's (or an older labctl's, interrupted before it tagged): empty or
    // not, nothing happens without --adopt.
    s3().create_bucket()
        .bucket(bucket(name, "source"))
        .send()
        .await
        .unwrap();
    let r = lab.run(&["apply", "--auto-approve"]).code_is(1);
    assert!(
        r.stderr().contains("without labctl's tag") && r.stderr().contains("--adopt"),
        "{}",
        r.stderr()
    );
    assert_eq!(
        owned(name).await,
        nothing(),
        "a plan error must stop everything"
    );
    let r = lab.run(&["apply", "--auto-approve", "--adopt"]).ok();
    assert!(r.stdout().contains("adopted:"), "{}", r.stdout());
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);
    lab.run(&["destroy", "--auto-approve"]).ok();
    // The same, but someone put data in it: never taken over. (Another name: moto keeps
    // a deleted bucket's tags for a new bucket of the same name, unlike S3.)
    let name = "t-untagged2";
    let lab = Lab::new(name, &shipped_lab(name, 164));
    s3().create_bucket()
        .bucket(bucket(name, "source"))
        .send()
        .await
        .unwrap();
    s3().put_object()
        .bucket(bucket(name, "source"))
        .key("mine.txt")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let r = lab.run(&["apply", "--auto-approve"]).code_is(1);
    assert!(
        r.stderr()
            .contains("without labctl's tag and holds 1 object(s)"),
        "{}",
        r.stderr()
    );
    assert!(
        s3().get_bucket_tagging()
            .bucket(bucket(name, "source"))
            .send()
            .await
            .is_err()
    );
    assert_eq!(
        owned(name).await,
        nothing(),
        "a plan error must stop everything"
    );
}

#[tokio::test]
async fn ctrl_c_lets_running_actions_finish_and_says_so() {
    let name = "t-ctrlc";
    let lab = Lab::new(name, &shipped_lab(name, 158));
    let proxy = Proxy::start(&["--latency-ms", "40"]);
    let mut child = spawn(&proxy.url, &lab.path(), &["apply", "--auto-approve"]);
    assert!(
        wait_calls(&proxy, 1, true, &mut child),
        "apply never started writing"
    );
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let r = Run::from_child(child).code_is(1);
    assert!(
        r.stdout()
            .contains("Interrupted: no new actions were started"),
        "{}",
        r.stdout()
    );
    lab.run(&["apply", "--auto-approve"]).ok();
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);
    lab.run(&["destroy", "--auto-approve", "--empty-buckets"])
        .ok();
    assert_eq!(owned(name).await, nothing());
}

#[tokio::test]
async fn expired_credentials_stop_the_run_and_a_rerun_converges() {
    let name = "t-expired";
    let lab = Lab::new(name, &shipped_lab(name, 160));
    let proxy = Proxy::start(&["--expire-after", "45"]);
    let r = lab
        .run_at(&proxy.url, &["apply", "--auto-approve"])
        .code_is(1);
    let all = r.stdout() + &r.stderr();
    assert!(all.contains("credentials expired or are invalid"), "{all}");
    lab.run(&["apply", "--auto-approve"]).ok();
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);
    lab.run(&["destroy", "--auto-approve", "--empty-buckets"])
        .ok();
    assert_eq!(owned(name).await, nothing());
}

#[tokio::test]
async fn two_applies_at_once_converge_and_say_what_they_found() {
    let name = "t-twice";
    let lab = Lab::new(name, &shipped_lab(name, 162));
    let p1 = Proxy::start(&["--latency-ms", "15"]);
    let p2 = Proxy::start(&["--latency-ms", "15"]);
    let a = spawn(&p1.url, &lab.path(), &["apply", "--auto-approve"]);
    let b = spawn(&p2.url, &lab.path(), &["apply", "--auto-approve"]);
    let (a, b) = (Run::from_child(a), Run::from_child(b));
    let outs = format!(
        "{}\n{}\n{}\n{}",
        a.stdout(),
        a.stderr(),
        b.stdout(),
        b.stderr()
    );
    // Either may lose a race and fail; a third run finishes the job.
    if a.code() != 0 || b.code() != 0 {
        lab.run(&["apply", "--auto-approve"]).ok();
    }
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);
    assert!(
        outs.contains("Found already done"),
        "neither run said it saw changes it did not make:\n{outs}"
    );
    let o = owned(name).await;
    assert!(
        o.iter()
            .all(|(k, n)| *n >= 1 && (k == "layer versions" || full().contains(&(k.clone(), *n)))),
        "{o:?}"
    );
    lab.run(&["destroy", "--auto-approve", "--empty-buckets"])
        .ok();
    assert_eq!(owned(name).await, nothing());
}

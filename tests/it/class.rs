//! Class mode as an instructor runs it: a roster's labs applied, graded and destroyed
//! in one run each, in one shared account and in an account per student; bad rosters
//! and clashing labs refused before any call; one student's failure stopping no one.

use crate::harness::{Lab, Proxy, bucket, s3, serverless_lab};

fn roster(lab: &Lab, text: &str) -> String {
    let p = lab.dir.path().join("roster.csv");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

#[tokio::test]
async fn a_class_is_applied_graded_kept_in_sync_and_destroyed_in_one_run_each() {
    let name = "t-cls";
    let lab = Lab::new(name, &serverless_lab(name));
    let r = roster(&lab, "student,email\nann,ann@uni.edu\nben,\ncy-2,\n");
    let out = lab.run(&["--roster", &r, "validate"]).ok().stdout();
    assert!(out.contains("3 student(s), every lab valid"), "{out}");

    let proxy = Proxy::start(&[]);
    let v = json(
        &lab.run_at(
            &proxy.url,
            &["--roster", &r, "apply", "--auto-approve", "--json"],
        )
        .ok()
        .stdout(),
    );
    assert_eq!(v["ok"], true, "{v:#}");
    let students: Vec<String> = v["students"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{} {} {}", s["student"], s["lab"], s["status"]))
        .collect();
    assert_eq!(
        students,
        [
            r#""ann" "t-cls-ann" "done""#,
            r#""ben" "t-cls-ben" "done""#,
            r#""cy-2" "t-cls-cy-2" "done""#
        ]
    );
    // One account: its listings and identity were asked once for the class, not per lab.
    let calls = proxy.calls();
    let count = |op: &str| calls.iter().filter(|c| c.action == op).count();
    assert_eq!(count("ListFunctions"), 1, "shared discovery");
    assert_eq!(count("GetCallerIdentity"), 1);
    // Each lab is the student's own, tagged so.
    for st in ["ann", "ben", "cy-2"] {
        let b = bucket(&format!("{name}-{st}"), "source");
        let tags = s3().get_bucket_tagging().bucket(&b).send().await.unwrap();
        let student = tags
            .tag_set()
            .iter()
            .find(|t| t.key() == "labctl:student")
            .map(|t| t.value().to_owned());
        assert_eq!(student.as_deref(), Some(st));
    }
    lab.run(&["--roster", &r, "plan", "--detailed-exitcode"])
        .code_is(0);

    // A drift in one student's lab: the class plan says whose, and exits 2.
    s3().delete_bucket_tagging()
        .bucket(bucket(&format!("{name}-ben"), "backup"))
        .send()
        .await
        .unwrap();
    let r2 = lab
        .run(&["--roster", &r, "plan", "--detailed-exitcode"])
        .code_is(1);
    let out = r2.stdout();
    assert!(
        out.contains("ben") && out.contains("invalid"),
        "an untagged bucket of the lab's name is not taken over: {out}"
    );
    lab.run(&[
        "--roster",
        &r,
        "--student",
        "ben",
        "apply",
        "--auto-approve",
        "--adopt",
    ])
    .ok();
    lab.run(&["--roster", &r, "plan", "--detailed-exitcode"])
        .code_is(0);

    // The grade sheet: a row per student, a column per check.
    let grades = lab.dir.path().join("grades.csv");
    let out = lab
        .run(&[
            "--roster",
            &r,
            "verify",
            "--grades",
            grades.to_str().unwrap(),
            "backup-copies-files",
            "compress-ignores-text",
        ])
        .ok()
        .stdout();
    assert!(out.contains("3 of 3 student(s) pass every check"), "{out}");
    let sheet = std::fs::read_to_string(&grades).unwrap();
    assert_eq!(
        sheet,
        "student,lab,backup-copies-files,compress-ignores-text,passed,failed\n\
         ann,t-cls-ann,pass,pass,2,0\n\
         ben,t-cls-ben,pass,pass,2,0\n\
         cy-2,t-cls-cy-2,pass,pass,2,0\n"
    );

    lab.run(&[
        "--roster",
        &r,
        "destroy",
        "--auto-approve",
        "--empty-buckets",
    ])
    .ok();
    for st in ["ann", "ben", "cy-2"] {
        assert!(
            s3().head_bucket()
                .bucket(bucket(&format!("{name}-{st}"), "source"))
                .send()
                .await
                .is_err()
        );
    }
}

#[tokio::test]
async fn bad_rosters_and_clashing_labs_are_refused_before_any_call() {
    let name = "t-cls-bad";
    let lab = Lab::new(name, &serverless_lab(name));
    let proxy = Proxy::start(&[]);
    let r = roster(&lab, "student,emial\nAnn,\nben,\nben,\n");
    let e = lab
        .run_at(&proxy.url, &["--roster", &r, "plan"])
        .code_is(1)
        .stderr();
    assert!(
        e.contains("roster.csv:1:1: unknown column `emial` — did you mean `email`?"),
        "{e}"
    );
    assert!(
        e.contains("roster.csv:2:1: student id `Ann` is not valid"),
        "{e}"
    );
    assert!(
        e.contains("roster.csv:4:1: student `ben` is on line 3 already"),
        "{e}"
    );
    // A name that is the same for every student, in one account, is one resource.
    let r = roster(&lab, "student\nann\nben\n");
    lab.write(&serverless_lab(name).replace(
        "name: ${lab}-backup-${account_id}",
        "name: shared-backup-${account_id}",
    ));
    let e = lab
        .run_at(&proxy.url, &["--roster", &r, "plan"])
        .code_is(1)
        .stderr();
    assert!(
        e.contains("bucket `shared-backup-123456789012` is the same for students ann, ben"),
        "{e}"
    );
    assert!(
        e.contains("put `${lab}` or `${student}` in its name"),
        "{e}"
    );
    // A student id that makes a name too long names the student and the row.
    let long = "a-student-id-that-is-way-too-long";
    let r = roster(&lab, &format!("student\nann\n{}\n", &long[..32]));
    lab.write(&serverless_lab(name).replace(
        "name: ${lab}-backup-${account_id}",
        "name: ${lab}-backup-copies-${account_id}",
    ));
    let e = lab
        .run_at(&proxy.url, &["--roster", &r, "plan"])
        .code_is(1)
        .stderr();
    assert!(
        e.contains(&format!("student `{}` (", &long[..32])) && e.contains("roster.csv:3)"),
        "{e}"
    );
    assert!(proxy.calls().is_empty(), "{:?}", proxy.calls());
}

#[tokio::test]
async fn one_students_failure_stops_no_one_else() {
    let name = "t-cls-one";
    let lab = Lab::new(name, &serverless_lab(name));
    let r = roster(&lab, "student\nann\nben\n");
    // Someone else's bucket holds the name of ben's source bucket.
    s3().create_bucket()
        .bucket(bucket(&format!("{name}-ben"), "source"))
        .send()
        .await
        .unwrap();
    let out = lab
        .run(&["--roster", &r, "apply", "--auto-approve"])
        .code_is(1)
        .stdout();
    // The table after the apply: the last line of each student.
    let line = |st: &str| {
        out.lines()
            .rev()
            .find(|l| l.starts_with(st))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(line("ann").contains("done"), "{out}");
    assert!(
        line("ben").contains("invalid") && line("ben").contains("without labctl's tag"),
        "{out}"
    );
    lab.run(&[
        "--roster",
        &r,
        "--student",
        "ann",
        "plan",
        "--detailed-exitcode",
    ])
    .code_is(0);
    lab.run(&[
        "--roster",
        &r,
        "destroy",
        "--auto-approve",
        "--empty-buckets",
    ])
    .ok();
    assert!(
        s3().head_bucket()
            .bucket(bucket(&format!("{name}-ben"), "source"))
            .send()
            .await
            .is_ok(),
        "not the lab's: kept"
    );
}

#[tokio::test]
async fn an_account_per_student_is_reached_through_each_role() {
    let name = "t-cls-acct";
    let lab = Lab::new(name, &serverless_lab(name));
    let r = roster(
        &lab,
        "student,role_arn\nann,arn:aws:iam::111111111111:role/labctl-class\nben,arn:aws:iam::222222222222:role/labctl-class\n",
    );
    let v = json(
        &lab.run(&["--roster", &r, "apply", "--auto-approve", "--json"])
            .ok()
            .stdout(),
    );
    assert_eq!(v["ok"], true, "{v:#}");
    // Each lab is in its student's account: the bucket names hold the account ids.
    for (st, account) in [("ann", "111111111111"), ("ben", "222222222222")] {
        let b = format!("{name}-{st}-source-{account}");
        let found = v["students"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["student"] == st)
            .map(|s| s["plan"].to_string())
            .unwrap_or_default();
        assert!(found.contains(&b), "{st}: {found}");
    }
    lab.run(&["--roster", &r, "plan", "--detailed-exitcode"])
        .code_is(0);
    lab.run(&[
        "--roster",
        &r,
        "destroy",
        "--auto-approve",
        "--empty-buckets",
    ])
    .ok();
    lab.run(&["--roster", &r, "plan", "--json"]).ok();
}

#[tokio::test]
async fn an_academy_class_beyond_nine_instances_is_refused_before_any_launch() {
    use crate::harness::{labctl_env, learner_lab_session, own_moto, sdk};
    // A Learner Lab session (the `voclabs` role), with what the Learner Lab provides.
    let url = own_moto(&[]);
    let cfg = sdk().into_builder().endpoint_url(&url).build();
    let creds = &learner_lab_session(&cfg, "user1234=instructor").await;
    aws_sdk_iam::Client::new(&cfg)
        .create_instance_profile()
        .instance_profile_name("LabInstanceProfile")
        .send()
        .await
        .unwrap();
    let ec2 = aws_sdk_ec2::Client::new(&cfg);
    ec2.create_key_pair()
        .key_name("vockey")
        .send()
        .await
        .unwrap();
    let env = [
        ("AWS_ACCESS_KEY_ID", creds.access_key_id()),
        ("AWS_SECRET_ACCESS_KEY", creds.secret_access_key()),
        ("AWS_SESSION_TOKEN", creds.session_token()),
    ];
    let lab = Lab::new(
        "t-cq",
        "lab: t-cq\nregion: us-east-1\ninstances:\n  web:\n    ami: al2023\n    type: t3.micro\n    key: { existing: vockey }\n    instance_profile: { existing: LabInstanceProfile }\n",
    );
    let students: String = (0..10).map(|i| format!("s{i}\n")).collect();
    let r = roster(&lab, &format!("student\n{students}"));

    let plan = labctl_env(&url, &lab.path(), &["--roster", &r, "plan"], &env).code_is(1);
    let err = plan.stderr();
    assert!(
        err.contains("error: quota: the class's 10 labs would add 10 running instances to the 0 the account has, beyond its quota of 9: 9 of 10 student(s) fit")
            && err.contains("help: AWS Academy stops instances beyond 9"),
        "{err}"
    );
    let v = json(
        &labctl_env(&url, &lab.path(), &["--roster", &r, "plan", "--json"], &env)
            .code_is(1)
            .stdout(),
    );
    assert_eq!(v["ok"], false);
    assert_eq!(
        v["quota_problems"].as_array().map(Vec::len),
        Some(1),
        "{v:#}"
    );

    let apply = labctl_env(
        &url,
        &lab.path(),
        &["--roster", &r, "apply", "--auto-approve"],
        &env,
    )
    .code_is(1);
    assert!(
        apply
            .stderr()
            .contains("the class does not fit in its account; nothing was changed"),
        "{}",
        apply.stderr()
    );
    let launched: usize = ec2
        .describe_instances()
        .send()
        .await
        .unwrap()
        .reservations()
        .iter()
        .map(|r| r.instances().len())
        .sum();
    assert_eq!(launched, 0, "nothing launched");

    // Nine fit.
    let nine: String = (0..9).map(|i| format!("s{i}\n")).collect();
    let r9 = roster(&lab, &format!("student\n{nine}"));
    labctl_env(&url, &lab.path(), &["--roster", &r9, "plan"], &env).code_is(0);
}

//! AWS Academy Learner Lab, emulated: moto enforcing IAM, a student whose policy
//! denies creating or changing roles, and a LabRole that exists. A lab that declares a
//! role to create stops at its first IAM write with the way out; nothing is created.

use crate::harness::{Lab, labctl_as, labctl_env, learner_lab_session, own_moto, sdk};

#[tokio::test]
async fn a_role_to_create_where_iam_writes_are_denied_points_to_labrole() {
    // The first 4 calls are not checked: they set up the student and LabRole.
    let url = own_moto(&[("INITIAL_NO_AUTH_ACTION_COUNT", "4")]);
    let admin = {
        use aws_sdk_iam::config::{
            BehaviorVersion, Credentials, Region, SharedCredentialsProvider,
        };
        let cfg = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&url)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "tests",
            )))
            .build();
        aws_sdk_iam::Client::new(&cfg)
    };
    admin
        .create_user()
        .user_name("student")
        .send()
        .await
        .unwrap();
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"*","Resource":"*"},
        {"Effect":"Deny","Action":["iam:CreateRole","iam:PutRolePolicy","iam:AttachRolePolicy"],"Resource":"*"}]}"#;
    admin
        .put_user_policy()
        .user_name("student")
        .policy_name("learner-lab")
        .policy_document(policy)
        .send()
        .await
        .unwrap();
    let key = admin
        .create_access_key()
        .user_name("student")
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap();
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    admin
        .create_role()
        .role_name("LabRole")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();

    let lab = Lab::new(
        "t-learner",
        "lab: t-learner\nregion: us-east-1\nrole:\n  name: t-learner-lambda\n  managed_policies: [arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]\n",
    );
    let r = labctl_as(
        &url,
        &lab.path(),
        &["apply", "--auto-approve"],
        key.access_key_id(),
        key.secret_access_key(),
    )
    .code_is(1);
    let all = r.stdout() + &r.stderr();
    assert!(
        all.contains("CreateRole") && all.contains("existing: LabRole"),
        "{all}"
    );
    let role = admin.get_role().role_name("t-learner-lambda").send().await;
    assert!(role.is_err(), "the role was created");

    // The same lab with `existing: LabRole` goes through.
    lab.write("lab: t-learner\nregion: us-east-1\nrole: { existing: LabRole }\nbuckets:\n  b:\n    name: ${lab}-b-${account_id}\n");
    let r = labctl_as(
        &url,
        &lab.path(),
        &["apply", "--auto-approve"],
        key.access_key_id(),
        key.secret_access_key(),
    );
    assert_eq!(r.code(), 0, "{}\n{}", r.stdout(), r.stderr());
}

#[tokio::test]
async fn a_learner_lab_session_in_another_region_is_told_which_regions_it_may_use() {
    // A Learner Lab session is the `voclabs` assumed role.
    let url = own_moto(&[]);
    let cfg = sdk().into_builder().endpoint_url(&url).build();
    let creds = &learner_lab_session(&cfg, "user1234=student").await;
    let lab = Lab::new(
        "t-learner-eu",
        "lab: t-learner-eu\nregion: eu-west-1\nbuckets:\n  b:\n    name: ${lab}-b-${account_id}\n",
    );
    let r = labctl_env(
        &url,
        &lab.path(),
        &["apply", "--auto-approve"],
        &[
            ("AWS_ACCESS_KEY_ID", creds.access_key_id()),
            ("AWS_SECRET_ACCESS_KEY", creds.secret_access_key()),
            ("AWS_SESSION_TOKEN", creds.session_token()),
        ],
    )
    .code_is(1);
    let err = r.stderr();
    assert!(
        err.contains("AWS Academy Learner Lab session, which only allows us-east-1 and us-west-2, not eu-west-1")
            && err.contains("help: set `region: us-east-1`"),
        "{err}"
    );
    let buckets = aws_sdk_s3::Client::new(&cfg)
        .list_buckets()
        .send()
        .await
        .unwrap();
    assert!(buckets.buckets().is_empty(), "{buckets:?}");
}

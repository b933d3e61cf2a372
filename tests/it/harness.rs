//! Test support: one moto server for the whole test binary, the real labctl binary,
//! a recording proxy when a test counts calls, and an SDK client for checking AWS
//! independently of labctl's own read path.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const ACCOUNT: &str = "123456789012";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    std::env::var_os("LABCTL_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_http(url: &str) {
    let addr = url.trim_start_matches("http://").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(&addr).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("nothing answers at {url}");
}

/// The moto endpoint: the one scripts/test.sh started (LABCTL_TEST_ENDPOINT), or one
/// started here that exits with this process (`--parent-pid`).
pub fn moto() -> &'static str {
    static MOTO: OnceLock<String> = OnceLock::new();
    MOTO.get_or_init(|| {
        if let Ok(url) = std::env::var("LABCTL_TEST_ENDPOINT") {
            return url;
        }
        // A bucket of another account answers 403, as on AWS.
        own_moto(&[("MOTO_S3_ALLOW_CROSSACCOUNT_ACCESS", "false")])
    })
}

/// A moto server of a test's own, with extra settings (e.g. IAM enforcement), that
/// exits with this process.
pub fn own_moto(env: &[(&str, &str)]) -> String {
    let port = free_port();
    let child = Command::new(python())
        .arg(root().join("tests/support/moto_launcher.py"))
        .args([
            "--parent-pid",
            &std::process::id().to_string(),
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto");
    std::mem::forget(child);
    let url = format!("http://127.0.0.1:{port}");
    wait_http(&url);
    url
}

/// A lab in its own temporary folder.
pub struct Lab {
    pub dir: tempfile::TempDir,
}

impl Lab {
    /// `_name` documents which lab the file declares; the file itself carries it.
    pub fn new(_name: &str, yaml: &str) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let lab = Lab { dir };
        lab.write(yaml);
        lab
    }

    pub fn write(&self, yaml: &str) {
        std::fs::write(self.path(), yaml).unwrap();
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("lab.yaml")
    }

    /// Runs labctl on this lab against moto.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_at(moto(), args)
    }

    pub fn run_at(&self, endpoint: &str, args: &[&str]) -> Run {
        labctl(endpoint, &self.path(), args)
    }
}

pub struct Run {
    pub out: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code(),
            0,
            "labctl failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
    #[track_caller]
    pub fn code_is(self, code: i32) -> Run {
        assert_eq!(
            self.code(),
            code,
            "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
}

pub fn labctl(endpoint: &str, file: &Path, args: &[&str]) -> Run {
    let out = command(endpoint, file, args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    schema_agrees(file, args, &out);
    Run { out }
}

/// Every lab file labctl accepted in a test must satisfy the shipped editor schema too,
/// or an editor would flag a valid lab.
fn schema_agrees(file: &Path, args: &[&str], out: &Output) {
    let accepted = matches!(out.status.code(), Some(0 | 2))
        && matches!(args.first(), Some(&("validate" | "plan" | "apply")));
    let Ok(src) = std::fs::read_to_string(file) else {
        return;
    };
    if !accepted {
        return;
    }
    let errors = schema_errors(&src);
    assert!(
        errors.is_empty(),
        "labctl accepted {} but lab.schema.json does not: {errors:?}\n{src}",
        file.display()
    );
}

/// What the shipped lab.schema.json finds wrong with a lab file, as an editor would.
pub fn schema_errors(src: &str) -> Vec<String> {
    static SCHEMA: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let v = SCHEMA.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("lab.schema.json");
        let text = std::fs::read_to_string(path).unwrap();
        jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
    });
    let Ok(Some(root)) = labctl::yaml::parse(src) else {
        return vec!["not a YAML mapping".into()];
    };
    v.iter_errors(&labctl::yaml::schema::to_json(&root))
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// labctl with other credentials (a user of an IAM-enforcing server).
pub fn labctl_as(endpoint: &str, file: &Path, args: &[&str], key: &str, secret: &str) -> Run {
    labctl_env(
        endpoint,
        file,
        args,
        &[
            ("AWS_ACCESS_KEY_ID", key),
            ("AWS_SECRET_ACCESS_KEY", secret),
        ],
    )
}

/// labctl with more environment (a session token, another region).
pub fn labctl_env(endpoint: &str, file: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = command(endpoint, file, args);
    c.envs(env.iter().copied());
    let out = c.stdin(Stdio::null()).output().unwrap();
    schema_agrees(file, args, &out);
    Run { out }
}

/// labctl as a child process, for tests that interrupt or race it.
pub fn spawn(endpoint: &str, file: &Path, args: &[&str]) -> Child {
    command(endpoint, file, args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn command(endpoint: &str, file: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_labctl"));
    c.arg("-f").arg(file).args(args);
    environment(&mut c, endpoint);
    c
}

/// labctl on a terminal (a pseudo-terminal made by util-linux's `script`), as a user
/// at a shell runs it; stdout is what the terminal received.
pub fn labctl_on_terminal(endpoint: &str, file: &Path, args: &[&str]) -> Run {
    let mut line = format!("{} -f '{}'", env!("CARGO_BIN_EXE_labctl"), file.display());
    for a in args {
        line.push_str(&format!(" '{a}'"));
    }
    let mut c = Command::new("script");
    c.args(["-qec", &line, "/dev/null"]);
    environment(&mut c, endpoint);
    c.env("TERM", "xterm");
    Run {
        out: c.stdin(Stdio::null()).output().unwrap(),
    }
}

fn environment(c: &mut Command, endpoint: &str) {
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", empty_config())
        .env("AWS_SHARED_CREDENTIALS_FILE", empty_config())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("NO_COLOR", "1")
        .env("LABCTL_INITIAL_BACKOFF_MS", "50")
        .env("LABCTL_PYTHON", python());
    // Where verify finds the Lambda runtimes' Pythons (HOME is a temporary folder here).
    let pyenv = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".pyenv"))
                .filter(|p| p.is_dir())
        });
    if let Some(p) = pyenv {
        c.env("PYENV_ROOT", p);
    }
}

impl Run {
    pub fn from_child(child: Child) -> Run {
        Run {
            out: child.wait_with_output().unwrap(),
        }
    }
}

/// A recording proxy in front of moto; its log says which calls labctl made.
pub struct Proxy {
    child: Child,
    pub url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

#[derive(Debug, serde::Deserialize)]
pub struct Call {
    pub service: String,
    pub action: String,
    pub write: bool,
    pub injected: Option<String>,
    pub code: Option<String>,
}

impl Proxy {
    pub fn start(extra: &[&str]) -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let log = dir.path().join("calls.jsonl");
        let child = Command::new(python())
            .arg(root().join("tests/support/faultproxy.py"))
            .args(["--upstream", moto(), "--listen", "127.0.0.1:0"])
            .arg("--port-file")
            .arg(&port_file)
            .arg("--log")
            .arg(&log)
            .args(["--parent-pid", &std::process::id().to_string()])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&port_file)
                && let Ok(p) = p.trim().parse::<u16>()
            {
                break p;
            }
            assert!(Instant::now() < deadline, "proxy did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        Proxy {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn writes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.write)
            .map(|c| format!("{} {}", c.service, c.action))
            .collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An S3 client of its own, to check what labctl did without labctl's read code.
pub fn s3() -> aws_sdk_s3::Client {
    let creds = aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "tests");
    let cfg = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(moto())
        .credentials_provider(creds)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(cfg)
}

/// One SDK configuration for the checking clients of every service.
pub fn sdk() -> aws_config::SdkConfig {
    use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(moto())
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "tests",
        )))
        .build()
}

pub fn iam() -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&sdk())
}

pub fn lambda() -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::new(&sdk())
}

pub fn events() -> aws_sdk_eventbridge::Client {
    aws_sdk_eventbridge::Client::new(&sdk())
}

/// The shipped lab.yaml under another lab name, with code paths made absolute so it
/// can live in a temporary folder, and its two subnets moved to `172.31.<net>.0/24` and
/// the next block: tests share one default VPC, so each needs its own blocks.
pub fn shipped_lab(name: &str, net: u8) -> String {
    adapt(
        &std::fs::read_to_string(root().join("lab.yaml")).unwrap(),
        name,
        net,
    )
}

/// The shipped lab without its network and instance: the serverless part `verify`
/// proves and Athena queries, which needs no address block of the shared VPC.
pub fn serverless_lab(name: &str) -> String {
    let yaml = shipped_lab(name, 0);
    let start = yaml.find("\nnetwork:").unwrap();
    let end = yaml.find("\n# Athena over the backups").unwrap();
    format!("{}{}", &yaml[..start], &yaml[end..])
}

/// Every version and delete marker of a bucket: (key, version id, is a marker).
pub async fn versions(bucket: &str) -> Vec<(String, String, bool)> {
    let o = s3()
        .list_object_versions()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let mut v: Vec<(String, String, bool)> = o
        .versions()
        .iter()
        .map(|v| {
            (
                v.key().unwrap_or_default().to_owned(),
                v.version_id().unwrap_or_default().to_owned(),
                false,
            )
        })
        .chain(o.delete_markers().iter().map(|m| {
            (
                m.key().unwrap_or_default().to_owned(),
                m.version_id().unwrap_or_default().to_owned(),
                true,
            )
        }))
        .collect();
    v.sort();
    v
}

pub fn adapt(yaml: &str, name: &str, net: u8) -> String {
    yaml.replace("lab: photo-lab", &format!("lab: {name}"))
        .replace(
            "code: lambdas/",
            &format!("code: {}/lambdas/", root().display()),
        )
        .replace(": queries/", &format!(": {}/queries/", root().display()))
        // Glue database names are per account: each test lab needs its own.
        .replace(
            "lab_backups",
            &format!("{}_backups", name.replace('-', "_")),
        )
        .replace("172.31.96.0/24", &format!("172.31.{net}.0/24"))
        .replace("172.31.97.0/24", &format!("172.31.{}.0/24", net + 1))
}

/// An empty AWS config file: the developer's own must not leak into tests.
fn empty_config() -> &'static Path {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let p = std::env::temp_dir().join(format!(
            "labctl-tests-empty-aws-config-{}",
            std::process::id()
        ));
        std::fs::write(&p, "").unwrap();
        p
    })
}

pub fn bucket(lab: &str, suffix: &str) -> String {
    format!("{lab}-{suffix}-{ACCOUNT}")
}

pub fn logs() -> aws_sdk_cloudwatchlogs::Client {
    aws_sdk_cloudwatchlogs::Client::new(&sdk())
}

impl Proxy {
    /// How many answers of each code the proxy made up of the given kind
    /// (`race`, `not-ready`, `denied`...).
    pub fn injected_codes(&self, kind: &str) -> std::collections::BTreeMap<String, usize> {
        let mut out = std::collections::BTreeMap::new();
        for c in self.calls() {
            if c.injected.as_deref() == Some(kind) {
                *out.entry(c.code.unwrap_or_default()).or_default() += 1;
            }
        }
        out
    }
}

/// What an AWS Academy account has besides LabRole: the `vockey` key pair and the
/// LabInstanceProfile (once per moto server: tests share them).
pub async fn academy_extras() {
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com","ec2.amazonaws.com"]},"Action":"sts:AssumeRole"}]}"#;
    let _ = iam()
        .create_role()
        .role_name("LabRole")
        .assume_role_policy_document(trust)
        .send()
        .await;
    if iam()
        .create_instance_profile()
        .instance_profile_name("LabInstanceProfile")
        .send()
        .await
        .is_ok()
    {
        let _ = iam()
            .add_role_to_instance_profile()
            .instance_profile_name("LabInstanceProfile")
            .role_name("LabRole")
            .send()
            .await;
    }
    let _ = aws_sdk_ec2::Client::new(&sdk())
        .create_key_pair()
        .key_name("vockey")
        .send()
        .await;
}

/// A Learner Lab session on the server `cfg` points at: the `voclabs` role (what
/// labctl recognises AWS Academy by), assumed with the session name `session`.
pub async fn learner_lab_session(
    cfg: &aws_config::SdkConfig,
    session: &str,
) -> aws_sdk_sts::types::Credentials {
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;
    let role = aws_sdk_iam::Client::new(cfg)
        .create_role()
        .role_name("voclabs")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();
    let creds = aws_sdk_sts::Client::new(cfg)
        .assume_role()
        .role_arn(role.role().unwrap().arn())
        .role_session_name(session)
        .send()
        .await
        .unwrap();
    creds.credentials().unwrap().clone()
}

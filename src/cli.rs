//! Command-line surface: flags, and one short function per subcommand. No SDK calls
//! and no diffing here; those live in the kinds, `reconcile`, `plan` and `apply`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

// Output that outlives its reader: `labctl apply | head` must not stop an apply
// half-way, so a closed stdout is ignored instead of panicking as println! does.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let mut o = std::io::stdout();
        let _ = write!(o, $($t)*);
        let _ = o.flush();
    }};
}

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::apply::{self, Event};
use crate::aws::{self, ConnectOptions, Run};
use crate::config;
use crate::kind::Plan;
use crate::kind::{self, Lab};
use crate::plan;
use crate::reconcile;
use crate::render::{self, human, json};

/// Provision an AWS teaching lab from one lab.yaml, and keep it that way.
///
/// Exit codes: 0 success (for `plan --detailed-exitcode`: no changes), 1 error,
/// 2 changes pending (only with `--detailed-exitcode`).
#[derive(Debug, Parser)]
#[command(name = "labctl", version)]
pub struct Cli {
    /// The lab file.
    #[arg(short = 'f', long = "file", global = true, default_value = "lab.yaml")]
    pub file: PathBuf,
    /// AWS profile to use (default: the standard AWS credential chain).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Region, overriding `region:` in the lab file.
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// More logging on stderr (-v, -vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// apply and destroy: print only warnings, errors and the summary (the plan too,
    /// when it must be confirmed).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Class mode: one lab per student of this CSV roster (columns `student`, and
    /// optionally `profile` or `role_arn` for an account per student, `region`, `email`).
    #[arg(long, global = true, value_name = "FILE")]
    pub roster: Option<PathBuf>,
    /// With --roster: only this student's lab, shown as one lab is.
    #[arg(long, global = true, value_name = "ID", requires = "roster")]
    pub student: Option<String>,
    /// A role to assume (a roster student's `role_arn`), with its session name.
    #[arg(skip)]
    pub assume_role: Option<(String, String)>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the lab file without contacting AWS.
    Validate,
    /// Show what apply would change.
    Plan(PlanArgs),
    /// Make AWS match the lab file.
    Apply(ApplyArgs),
    /// Delete everything the lab owns.
    Destroy(DestroyArgs),
    /// Log in to one of the lab's instances: `labctl ssh web`, `labctl ssh web -- uptime`.
    ///
    /// The address, user and key come from AWS and the lab file; ssh (or LABCTL_SSH)
    /// runs with them and whatever follows `--`.
    Ssh(SshArgs),
    /// Prove the lab works: run the checks of lab.yaml (`checks:`), exit 0 when all pass.
    ///
    /// Each check puts one object and waits for what the functions should make of it.
    /// On an emulator labctl runs the functions itself, as Lambda would. Afterwards it
    /// removes every version of exactly the objects the probes caused.
    Verify(VerifyArgs),
    /// Run one function once: with an event from a file, the event of an object just
    /// put (`--put BUCKET/KEY`), or `{}`. Prints its result and logs.
    Invoke(InvokeArgs),
    /// Run SQL in one of the lab's Athena workgroups and print the rows.
    Query(QueryArgs),
    /// What a student needs after apply, read from AWS: bucket and function names and
    /// ARNs (with console links), EventBridge rules, each instance's address and ssh
    /// line, the Athena workgroups. `labctl outputs --json | jq -r .buckets.source.name`
    Outputs(OutputsArgs),
    /// Draw the lab: its resources and what sets what off (bucket -> rule -> function
    /// -> bucket), from the lab file alone. `labctl graph | mmdc -i - -o lab.svg`, or
    /// `labctl graph --format dot | dot -Tsvg > lab.svg`.
    Graph(GraphArgs),
    /// Write the lab as another tool's input: `labctl export cloudformation -o lab.cfn.json`.
    ///
    /// The template deploys the same resources with CloudFormation (the course's "CFT"):
    /// explicit names, the lab's tags, buckets and layers kept when the stack is deleted.
    /// Code and layers are zips in a bucket you name at deploy time: `--artifacts DIR`
    /// writes them, then `aws s3 sync DIR s3://BUCKET/` and
    /// `aws cloudformation deploy --template-file lab.cfn.json --stack-name my-lab
    /// --capabilities CAPABILITY_NAMED_IAM --parameter-overrides ArtifactBucket=BUCKET VpcId=vpc-...`.
    Export(ExportArgs),
    /// Start a lab: write a lab.yaml and the code it names into DIR.
    ///
    /// `labctl init my-lab` writes the course's lab into ./my-lab, named after the
    /// folder; `--template academy` for an AWS Academy Learner Lab, `minimal` for two
    /// buckets and a function. Nothing that exists is overwritten.
    Init(InitArgs),
    /// Print a completion script: `labctl completions bash > ~/.local/share/bash-completion/completions/labctl`.
    Completions(CompletionsArgs),
    /// Print the manual page (roff): `labctl man > labctl.1 && man ./labctl.1`.
    Man,
    /// Print the lab file's JSON Schema, for editors: `labctl schema > lab.schema.json`.
    ///
    /// With `# yaml-language-server: $schema=./lab.schema.json` as lab.yaml's first line,
    /// editors with a YAML language server (VS Code's YAML extension, Neovim, Helix)
    /// complete keys, show what each means and flag typos as you type.
    Schema,
}

#[derive(Debug, Args)]
pub struct OutputsArgs {
    /// Print them as JSON (stable: `format_version` changes if a field does).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub format: ExportFormat,
}

#[derive(Debug, Subcommand)]
pub enum ExportFormat {
    /// A CloudFormation template (JSON, which CloudFormation reads as it reads YAML).
    Cloudformation {
        /// Write the template here instead of to stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Also write the code and layer zips the template refers to, at their S3 keys
        /// under DIR (a `requirements:` layer is built, as apply builds it).
        #[arg(long, value_name = "DIR")]
        artifacts: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Mermaid (rendered by GitHub in Markdown) or Graphviz dot.
    #[arg(long, value_enum, default_value_t = crate::graph::Format::Mermaid)]
    pub format: crate::graph::Format,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Which lab to start from.
    #[arg(long, value_enum, default_value_t = crate::init::Template::Course)]
    pub template: crate::init::Template,
    /// The folder to write into (made if missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The workgroup's name in lab.yaml.
    pub workgroup: String,
    /// The SQL to run.
    pub sql: String,
    /// Print the rows as JSON.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for the query before stopping it.
    #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Checks to run (default: all).
    pub checks: Vec<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for each check (default 120).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: Option<u64>,
    /// Leave the probes' objects in place.
    #[arg(long)]
    pub keep: bool,
    /// With --roster: write the grade sheet (a row per student, a column per check) here, as CSV.
    #[arg(long, value_name = "FILE")]
    pub grades: Option<PathBuf>,
    /// Who runs the functions: `local` (labctl, as Lambda would; the default on an
    /// emulator), `aws` (the cloud's own triggers: the default on AWS, and for an
    /// emulator that runs functions itself, such as LocalStack with Docker).
    #[arg(long, value_enum, default_value_t = RunnerChoice::Auto)]
    pub runner: RunnerChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RunnerChoice {
    Auto,
    Local,
    Aws,
}

#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// The function's name in lab.yaml.
    pub function: String,
    /// A JSON file holding the event.
    #[arg(long, value_name = "FILE", conflicts_with = "put")]
    pub event: Option<PathBuf>,
    /// The event S3 sends for an object just put: BUCKET (as in lab.yaml) / KEY.
    #[arg(long, value_name = "BUCKET/KEY")]
    pub put: Option<String>,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SshArgs {
    /// The instance's name in lab.yaml.
    pub name: String,
    /// Passed on to ssh (a command to run, options).
    #[arg(last = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Exit 0 when in sync, 2 when there are changes, 1 on error (for CI drift checks).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// How many actions may run at once (default 8; with --roster, across the class,
    /// default 256: there the per-service rate limits pace the calls).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub parallelism: Option<u16>,
    /// Tag existing, untagged buckets of this account that lab.yaml declares as this lab's.
    #[arg(long)]
    pub adopt: bool,
    /// Let buckets removed from lab.yaml be deleted with every object, version and delete marker.
    #[arg(long)]
    pub empty_buckets: bool,
    /// Print the plan and the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Delete every object, version and delete marker of the lab's buckets first.
    #[arg(long)]
    pub empty_buckets: bool,
    /// How many actions may run at once (default 8; with --roster, across the class,
    /// default 256: there the per-service rate limits pace the calls).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub parallelism: Option<u16>,
    /// Print the plan and the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(mut cli: Cli) -> Result<ExitCode> {
    // Commands that need no lab file.
    match &cli.command {
        Command::Init(a) => return init(a),
        Command::Completions(a) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(a.shell, &mut cmd, "labctl", &mut std::io::stdout());
            return Ok(ExitCode::SUCCESS);
        }
        Command::Schema => {
            let _ = std::io::stdout().write_all(config::schema_text().as_bytes());
            return Ok(ExitCode::SUCCESS);
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut page)
                .context("writing the manual page")?;
            let _ = std::io::stdout().write_all(&page);
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    if let Some(r) = &cli.region
        && !config::REGIONS.contains(&r.as_str())
    {
        eprintln!(
            "error: unknown region `{r}` given with --region\n  help: use an AWS region code such as `us-east-1` (AWS Academy allows us-east-1 and us-west-2)"
        );
        return Ok(ExitCode::from(1));
    }
    if cli.roster.is_some() {
        match class_command(&mut cli).await? {
            ClassRun::Done(code) => return Ok(code),
            ClassRun::One(lab) => return one_lab(cli, *lab).await,
        }
    }
    let lab = match config::load(&cli.file, cli.region.as_deref()) {
        Ok((lab, warnings)) => {
            for w in &warnings.items {
                eprintln!(
                    "{}:{}:{}: warning: {} — {}",
                    warnings.file, w.pos.line, w.pos.col, w.message, w.help
                );
            }
            lab
        }
        Err(d) => {
            eprintln!("{d}");
            eprintln!(
                "error: {} problem(s) in {}; nothing was sent to AWS",
                d.items.len(),
                d.file
            );
            return Ok(ExitCode::from(1));
        }
    };
    one_lab(cli, lab).await
}

fn init(a: &InitArgs) -> Result<ExitCode> {
    let written = crate::init::write(a.template, &a.dir)?;
    for p in &written {
        outln!("wrote {}", p.display());
    }
    let cd = if a.dir == std::path::Path::new(".") {
        String::new()
    } else {
        format!("cd {} && ", a.dir.display())
    };
    outln!("\nNext: {cd}labctl plan    then `labctl apply` and `labctl verify`");
    Ok(ExitCode::SUCCESS)
}

/// Every command on one lab: the lab file's, or one student's of a roster.
async fn one_lab(cli: Cli, lab: Lab) -> Result<ExitCode> {
    match &cli.command {
        Command::Validate => {
            outln!(
                "{}: valid ({})",
                cli.file.display(),
                kind::summary(&lab).join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan(a) => {
            let run = connect(&cli, &lab, false, false).await?;
            let p = reconcile::plan(&run, &lab, plan::Options::default()).await?;
            if a.json {
                outln!("{}", json::plan(&p));
            }
            // A plan with problems is not a plan: show the problems only.
            if !p.errors.is_empty() {
                print_errors(&p);
                return Ok(ExitCode::from(1));
            }
            if !a.json {
                out!(
                    "{}",
                    human::plan(
                        &p,
                        &human::Style {
                            color: render::use_color()
                        }
                    )
                );
            }
            Ok(if a.detailed_exitcode && !p.is_empty() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Apply(a) => {
            let run = connect(&cli, &lab, false, !a.json && !cli.quiet).await?;
            let opts = plan::Options {
                adopt: a.adopt,
                empty_buckets: a.empty_buckets,
                ..Default::default()
            };
            let p = reconcile::plan(&run, &lab, opts).await?;
            let opts = apply::Options {
                parallelism: a.parallelism.map_or(8, usize::from),
                budget: None,
            };
            let code = execute(
                run.clone(),
                &p,
                a.auto_approve,
                a.json,
                cli.quiet,
                opts,
                "Apply",
            )
            .await?;
            if code == ExitCode::SUCCESS && !a.json {
                print_outputs(&run, &lab).await;
            }
            Ok(code)
        }
        Command::Destroy(a) => {
            let run = connect(&cli, &lab, true, !a.json && !cli.quiet).await?;
            let opts = plan::Options {
                empty_buckets: a.empty_buckets,
                ..Default::default()
            };
            let p = reconcile::plan(&run, &lab, opts).await?;
            let opts = apply::Options {
                parallelism: a.parallelism.map_or(8, usize::from),
                budget: None,
            };
            execute(run, &p, a.auto_approve, a.json, cli.quiet, opts, "Destroy").await
        }
        Command::Ssh(a) => {
            let run = connect(&cli, &lab, false, false).await?;
            ssh(&run, &lab, a).await
        }
        Command::Verify(a) => {
            if a.grades.is_some() && cli.student.is_none() {
                eprintln!(
                    "error: --grades writes a class's grade sheet\n  help: add `--roster FILE`"
                );
                return Ok(ExitCode::from(1));
            }
            let run = connect(&cli, &lab, false, false).await?;
            let opts = crate::verify::Options {
                only: a.checks.clone(),
                timeout: a.timeout.map(std::time::Duration::from_secs),
                keep: a.keep,
                local: match a.runner {
                    RunnerChoice::Auto => None,
                    RunnerChoice::Local => Some(true),
                    RunnerChoice::Aws => Some(false),
                },
            };
            let r = crate::verify::verify(&run, &lab, &opts).await?;
            if a.json {
                outln!("{}", crate::render::verify::json(&r));
            } else {
                out!("{}", crate::render::verify::human(&r));
            }
            Ok(if r.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Query(a) => {
            let run = connect(&cli, &lab, false, false).await?;
            let answer = crate::kind::athena::query::run(
                &run,
                &lab,
                &a.workgroup,
                &a.sql,
                std::time::Duration::from_secs(a.timeout),
            )
            .await?;
            if a.json {
                outln!("{}", crate::render::query::json(&answer));
            } else {
                out!("{}", crate::render::query::human(&answer));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Invoke(a) => {
            let run = connect(&cli, &lab, false, false).await?;
            let opts = crate::verify::invoke::Options {
                function: a.function.clone(),
                event: a.event.clone(),
                put: a.put.clone(),
            };
            let o = crate::verify::invoke::invoke(&run, &lab, &opts).await?;
            if a.json {
                outln!("{}", crate::render::verify::invoke_json(&o));
            } else {
                out!("{}", crate::render::verify::invoke_human(&o));
            }
            Ok(if o.error.is_none() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Graph(a) => {
            out!("{}", crate::graph::render(&lab, a.format));
            Ok(ExitCode::SUCCESS)
        }
        Command::Export(ExportArgs {
            format: ExportFormat::Cloudformation { output, artifacts },
        }) => {
            let t = crate::export::cloudformation(&lab);
            let mut text = serde_json::to_string_pretty(&t.json())?;
            text.push('\n');
            match output {
                Some(path) => std::fs::write(path, &text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => out!("{text}"),
            }
            if let Some(dir) = artifacts {
                for p in t.write_artifacts(&lab, dir)? {
                    eprintln!("wrote {}", p.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Outputs(a) => {
            let run = connect(&cli, &lab, false, false).await?;
            let o = crate::outputs::read(&run, &lab).await?;
            if a.json {
                outln!("{}", o.json());
            } else {
                out!("{}", o.human());
            }
            Ok(ExitCode::SUCCESS)
        }
        // Answered before any lab file is read.
        Command::Init(_) | Command::Completions(_) | Command::Man | Command::Schema => {
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs ssh to one of the lab's instances, as `outputs` shows it.
async fn ssh(run: &Run, lab: &Lab, a: &SshArgs) -> Result<ExitCode> {
    use crate::kind::instance;
    if !lab.instances.contains_key(&a.name) {
        let known: Vec<&str> = lab.instances.keys().map(String::as_str).collect();
        anyhow::bail!(
            "the lab declares no instance `{}`\n  help: {}",
            a.name,
            if known.is_empty() {
                "declare one under `instances:`".to_owned()
            } else {
                format!("instances: {}", known.join(", "))
            }
        );
    }
    let found = instance::reachable(run, lab).await?;
    let Some(r) = found.into_iter().find(|r| r.name == a.name) else {
        anyhow::bail!(
            "instance `{}` does not exist yet\n  help: run `labctl apply`",
            a.name
        );
    };
    if r.state != "running" {
        anyhow::bail!(
            "instance `{}` is {}\n  help: `labctl apply` starts it again",
            a.name,
            r.state
        );
    }
    let Some(mut cmd) = r.ssh() else {
        anyhow::bail!(
            "instance `{}` has no public address\n  help: set `public_ip: true` (it replaces the instance), or reach it from inside the VPC",
            a.name
        );
    };
    let program = std::env::var("LABCTL_SSH").unwrap_or_else(|_| cmd.remove(0));
    if std::env::var("LABCTL_SSH").is_ok() {
        cmd.remove(0);
    }
    let host = cmd.pop().unwrap_or_default();
    // A new instance's host key is new: accepted once, then checked as ever.
    cmd.extend(["-o".into(), "StrictHostKeyChecking=accept-new".into(), host]);
    cmd.extend(a.args.iter().cloned());
    let status = std::process::Command::new(&program)
        .args(&cmd)
        .status()
        .with_context(|| format!("running {program}"))?;
    Ok(ExitCode::from(
        status.code().unwrap_or(1).clamp(0, 255) as u8
    ))
}

/// After an apply: how to reach the lab's instances, read from AWS.
async fn print_outputs(run: &Run, lab: &Lab) {
    if lab.instances.is_empty() {
        return;
    }
    match crate::kind::instance::reachable(run, lab).await {
        Ok(found) if !found.is_empty() => {
            outln!("\nOutputs:");
            for r in &found {
                outln!("  {}", crate::outputs::instance_line(r));
            }
        }
        Ok(_) => {}
        Err(e) => eprintln!("warning: could not read the instances' addresses: {e}"),
    }
}

/// `progress`: say on stdout what running actions wait for (not with `--json`).
async fn connect(cli: &Cli, lab: &Lab, destroying: bool, progress: bool) -> Result<Arc<Run>> {
    let region = cli.region.clone().unwrap_or_else(|| lab.region.clone());
    let opts = ConnectOptions {
        region,
        profile: cli.profile.clone(),
        assume_role: cli.assume_role.clone(),
        ..Default::default()
    };
    let clients = aws::connect(&opts)
        .await
        .map_err(aws::error::explain_auth)?;
    let run = Run::new(clients, &lab.name, destroying);
    if !progress {
        return Ok(Arc::new(run));
    }
    // On a terminal both go to the board, on the line of the action that says them;
    // piped, a wait is a line of its own and a status nothing.
    Ok(Arc::new(match render::live::board() {
        Some(b) => {
            let on_board =
                move |what: &str| b.wait(crate::apply::ACTION.try_with(|i| *i).ok(), what);
            run.with_progress(Arc::new(on_board))
                .with_status(Arc::new(on_board))
        }
        None => run.with_progress(Arc::new(|what: &str| outln!("  ... {what}"))),
    }))
}

enum ClassRun {
    Done(ExitCode),
    /// `--student ID`: that student's lab, run as one lab.
    One(Box<Lab>),
}

/// `--roster`: every student's lab at once, one line each.
async fn class_command(cli: &mut Cli) -> Result<ClassRun> {
    use crate::class;
    let fail = || Ok(ClassRun::Done(ExitCode::from(1)));
    let Some(path) = cli.roster.clone() else {
        return fail();
    };
    let mut roster = match class::roster::load(&path) {
        Ok(r) => r,
        Err(d) => {
            eprintln!("{d}");
            eprintln!(
                "error: {} problem(s) in {}; nothing was sent to AWS",
                d.items.len(),
                d.file
            );
            return fail();
        }
    };
    if let Some(id) = &cli.student {
        if !roster.students.iter().any(|s| &s.id == id) {
            let ids: Vec<&str> = roster.students.iter().map(|s| s.id.as_str()).collect();
            let help = crate::yaml::diag::did_you_mean(id, &ids)
                .map(|m| format!("did you mean `{m}`?"))
                .unwrap_or_else(|| format!("{} lists {} students", roster.file, ids.len()));
            eprintln!(
                "error: {} has no student `{id}`\n  help: {help}",
                roster.file
            );
            return fail();
        }
        roster.students.retain(|s| &s.id == id);
    }
    let class = match class::load(&cli.file, cli.region.as_deref(), roster) {
        Ok(c) => c,
        Err(p) => {
            eprint!("{}", p.text);
            eprintln!(
                "error: {} problem(s) in the class's labs; nothing was sent to AWS",
                p.count
            );
            return fail();
        }
    };
    for w in &class.warnings {
        eprintln!("{w}");
    }
    if cli.student.is_some() {
        let m = &class.members[0];
        let t = class::Target::of(m, cli.profile.as_deref());
        cli.profile = t.profile;
        cli.assume_role = t.assume_role;
        return Ok(ClassRun::One(Box::new(m.lab.clone())));
    }
    let profile = cli.profile.clone();
    let code = match &cli.command {
        Command::Validate => {
            outln!(
                "{}: {} student(s), every lab valid ({})",
                class.roster.file,
                class.members.len(),
                kind::summary(&class.members[0].lab).join(", ")
            );
            ExitCode::SUCCESS
        }
        Command::Plan(a) => {
            let (runs, limiter) = class::connect(&class, profile.as_deref(), false).await;
            let planned = class::plan_all(&class, runs, plan::Options::default()).await;
            let (quota, warnings) = class::quota::check(&planned).await;
            let outs: Vec<class::Outcome> = planned.into_iter().map(|x| x.0).collect();
            for w in &warnings {
                eprintln!("warning: {w}");
            }
            if a.json {
                outln!(
                    "{}",
                    crate::render::class::json(&outs, limiter.waited(), &quota)
                );
            } else {
                out!("{}", crate::render::class::table(&outs, "Plan"));
                eprint!("{}", crate::render::class::quota(&quota));
            }
            if !quota.is_empty() || outs.iter().any(|o| !o.ok() || o.status == "invalid") {
                ExitCode::from(1)
            } else if a.detailed_exitcode && outs.iter().any(|o| o.status == "changes") {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Apply(a) => {
            let opts = plan::Options {
                adopt: a.adopt,
                empty_buckets: a.empty_buckets,
                ..Default::default()
            };
            class_apply(
                &class,
                profile.as_deref(),
                false,
                opts,
                a.auto_approve,
                a.json,
                a.parallelism.map_or(256, usize::from),
                "Apply",
            )
            .await?
        }
        Command::Destroy(a) => {
            let opts = plan::Options {
                empty_buckets: a.empty_buckets,
                ..Default::default()
            };
            class_apply(
                &class,
                profile.as_deref(),
                true,
                opts,
                a.auto_approve,
                a.json,
                a.parallelism.map_or(256, usize::from),
                "Destroy",
            )
            .await?
        }
        Command::Verify(a) => {
            let (runs, _) = class::connect(&class, profile.as_deref(), false).await;
            let opts = crate::verify::Options {
                only: a.checks.clone(),
                timeout: a.timeout.map(std::time::Duration::from_secs),
                keep: a.keep,
                local: match a.runner {
                    RunnerChoice::Auto => None,
                    RunnerChoice::Local => Some(true),
                    RunnerChoice::Aws => Some(false),
                },
            };
            let all = class::verify_all(&class, runs, &opts).await;
            if let Some(g) = &a.grades {
                std::fs::write(g, crate::render::class::grades_csv(&all))
                    .with_context(|| format!("writing the grade sheet {}", g.display()))?;
            }
            if a.json {
                outln!("{}", crate::render::class::verify_json(&all));
            } else {
                out!("{}", crate::render::class::verify_table(&all));
                if let Some(g) = &a.grades {
                    outln!("Grades written to {}.", g.display());
                }
            }
            if all
                .iter()
                .all(|(_, _, r, _)| r.as_ref().is_ok_and(crate::verify::Report::ok))
            {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Command::Ssh(_)
        | Command::Invoke(_)
        | Command::Query(_)
        | Command::Outputs(_)
        | Command::Export(_)
        | Command::Graph(_) => {
            eprintln!(
                "error: this command runs on one lab\n  help: add `--student ID` to name the student's lab"
            );
            ExitCode::from(1)
        }
        // Answered before any lab file is read.
        Command::Init(_) | Command::Completions(_) | Command::Man | Command::Schema => {
            ExitCode::SUCCESS
        }
    };
    Ok(ClassRun::Done(code))
}

/// Plans every student's lab, shows the plan per student, asks once, applies all.
#[allow(clippy::too_many_arguments)]
async fn class_apply(
    class: &crate::class::Class,
    profile: Option<&str>,
    destroying: bool,
    opts: plan::Options,
    auto_approve: bool,
    as_json: bool,
    parallelism: usize,
    verb: &str,
) -> Result<ExitCode> {
    use crate::class;
    let (runs, limiter) = class::connect(class, profile, destroying).await;
    let planned = class::plan_all(class, runs, opts).await;
    let (quota, warnings) = class::quota::check(&planned).await;
    let outs: Vec<class::Outcome> = planned.iter().map(|x| x.0.clone()).collect();
    let pending = outs.iter().any(|o| o.status == "changes");
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if !as_json {
        out!("{}", crate::render::class::table(&outs, "Plan"));
    }
    // A class that cannot fit is not started: half a class is worse than none.
    if !quota.is_empty() {
        if as_json {
            outln!(
                "{}",
                crate::render::class::json(&outs, limiter.waited(), &quota)
            );
        } else {
            eprint!("{}", crate::render::class::quota(&quota));
        }
        return Ok(ExitCode::from(1));
    }
    if pending && !auto_approve && !confirm(verb)? {
        return Ok(ExitCode::from(1));
    }
    let done = class::apply_all(planned, parallelism).await;
    if as_json {
        outln!(
            "{}",
            crate::render::class::json(&done, limiter.waited(), &[])
        );
    } else if pending {
        out!("\n{}", crate::render::class::table(&done, verb));
    }
    Ok(if done.iter().all(|o| o.ok() && o.status != "invalid") {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_errors(p: &Plan) {
    for w in &p.warnings {
        eprintln!("warning: {w}");
    }
    for e in &p.errors {
        eprintln!("error: {}: {}\n  help: {}", e.addr, e.message, e.help);
    }
    eprintln!(
        "error: the plan has {} problem(s); nothing was changed",
        p.errors.len()
    );
}

async fn execute(
    run: Arc<Run>,
    p: &Plan,
    auto_approve: bool,
    as_json: bool,
    quiet: bool,
    opts: apply::Options,
    verb: &str,
) -> Result<ExitCode> {
    let style = human::Style {
        color: render::use_color(),
    };
    // Quiet still shows a plan that someone is asked to confirm.
    let quiet = quiet && auto_approve;
    if !p.errors.is_empty() {
        if as_json {
            outln!("{}", json::plan(p));
        }
        print_errors(p);
        return Ok(ExitCode::from(1));
    }
    if !as_json && (!quiet || p.is_empty()) {
        out!("{}", human::plan(p, &style));
    }
    if p.is_empty() {
        if as_json {
            outln!("{}", json::plan(p));
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !auto_approve && (!confirm(verb)? || !confirm_replacements(p)?) {
        return Ok(ExitCode::from(1));
    }
    let mut started = std::collections::HashMap::new();
    // On a terminal, running actions stay at the bottom, redrawn in place.
    let board = render::live::board().filter(|_| !as_json && !quiet);
    let ticker = board.map(|b| {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_millis(500));
            loop {
                every.tick().await;
                b.tick();
            }
        })
    });
    let report = apply::run(run.clone(), p, opts, |ev| {
        if as_json || quiet {
            return;
        }
        match ev {
            Event::Started(i) => {
                started.insert(i, std::time::Instant::now());
                let line = human::started(&p.actions[i]);
                match board {
                    Some(b) => b.start(i, line),
                    None => outln!("{line}"),
                }
            }
            Event::Finished(i, o, _) => {
                let took = started
                    .get(&i)
                    .map(|t| t.elapsed().as_secs_f64())
                    .unwrap_or_default();
                let line = human::finished(&p.actions[i], o, p, took);
                match board {
                    Some(b) => b.finish(i, &line),
                    None => outln!("{line}"),
                }
            }
        }
        let _ = std::io::stdout().flush();
    })
    .await;
    if let (Some(t), Some(b)) = (ticker, board) {
        t.abort();
        b.clear();
    }
    let notes = run.take_notes();
    // What actions found worth saying as they ran (a lifecycle slow to read back, an
    // instance whose checks did not pass yet).
    for w in run.take_warnings() {
        if as_json {
            eprintln!("warning: {w}");
        } else {
            outln!("warning: {w}");
        }
    }
    if as_json {
        outln!("{}", json::report(p, &report, &notes));
    } else {
        if !notes.is_empty() {
            outln!(
                "\nFound already done, by another run or an earlier attempt whose answer was lost:"
            );
            for n in &notes {
                outln!("  {n}");
            }
        }
        outln!("\n{}", human::summary(p, &report, verb));
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Replacing an instance loses its disk: on a terminal that is asked once more.
fn confirm_replacements(p: &Plan) -> Result<bool> {
    let lost: Vec<String> = p
        .actions
        .iter()
        .filter(|a| a.op == plan::Op::Replace && a.addr.kind == crate::kind::instance::INSTANCE)
        .map(|a| a.addr.name.clone())
        .collect();
    if lost.is_empty() {
        return Ok(true);
    }
    out!(
        "\n{} will be replaced: everything on its disk is lost. Type 'replace' to go on: ",
        lost.join(", ")
    );
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if line.trim() == "replace" {
        Ok(true)
    } else {
        eprintln!("Nothing was changed.");
        Ok(false)
    }
}

fn confirm(verb: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        eprintln!(
            "error: {} needs confirmation, and there is no terminal to ask on\n  help: review `labctl plan`, then rerun with --auto-approve",
            verb.to_lowercase()
        );
        return Ok(false);
    }
    out!("\nDo you want to perform these actions? Only 'yes' will be accepted: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if line.trim() == "yes" {
        Ok(true)
    } else {
        eprintln!("{verb} cancelled.");
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}

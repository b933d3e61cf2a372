//! Class mode: one lab per student of a roster, in one process. Every student's lab is
//! the lab file with `lab: <lab>-<student>` and `${student}` set, checked in full for
//! every student before any AWS call. The labs of one account share their clients:
//! one rate limit per service, one caller identity, one listing per kind. A student's
//! failure stops no one else's lab.

pub mod quota;
pub mod roster;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::StreamExt;
use tokio::sync::Semaphore;

use crate::apply;
use crate::aws::{self, ConnectOptions, Run};
use crate::kind::role::Role;
use crate::kind::{Lab, Plan};
use crate::model::Pos;
use roster::{Roster, Student};

pub struct Member {
    pub student: Student,
    pub lab: Lab,
}

pub struct Class {
    pub roster: Roster,
    pub members: Vec<Member>,
    /// Warnings of the lab file, once for the class.
    pub warnings: Vec<String>,
}

/// Problems by (position, message with the student's names taken out, help), with the
/// students they were found for and each one's own text.
type Found = BTreeMap<(Pos, String, String), Vec<(Student, String)>>;

/// Every problem of every student's lab, grouped: one said for every student is said
/// once.
#[derive(Debug)]
pub struct Problems {
    pub text: String,
    pub count: usize,
}

/// Each student's lab, or every problem of the class at once.
pub fn load(file: &Path, region: Option<&str>, roster: Roster) -> Result<Class, Problems> {
    let n = roster.students.len();
    // (pos, message with the student's names taken out, help) -> students and the text.
    let mut found: Found = BTreeMap::new();
    let mut members = Vec::new();
    let mut warnings = Vec::new();
    let mut lab_file = String::new();
    for st in &roster.students {
        let region = region.or(st.region.as_deref());
        match crate::config::load_for(file, region, Some(&st.id)) {
            Ok((lab, w)) => {
                lab_file = w.file.clone();
                if warnings.is_empty() {
                    warnings = w
                        .items
                        .iter()
                        .map(|d| {
                            format!(
                                "{}:{}:{}: warning: {} — {}",
                                w.file, d.pos.line, d.pos.col, d.message, d.help
                            )
                        })
                        .collect();
                }
                members.push(Member {
                    student: st.clone(),
                    lab,
                });
            }
            Err(d) => {
                lab_file = d.file.clone();
                for item in d.items {
                    let general = item
                        .message
                        .replace(&st.id, "<student>")
                        .replace(&st.id.replace('-', "_"), "<student>");
                    let text = format!("{} — {}", item.message, item.help);
                    found
                        .entry((item.pos, general, item.help.replace(&st.id, "<student>")))
                        .or_default()
                        .push((st.clone(), text));
                }
            }
        }
    }
    if found.is_empty() && !roster.per_account() {
        collisions(&members, &roster.file, &mut found);
    }
    if found.is_empty() {
        return Ok(Class {
            roster,
            members,
            warnings,
        });
    }
    let mut text = String::new();
    let mut count = 0;
    for ((pos, general, help), students) in &found {
        if students.len() == n && n > 1 {
            text.push_str(&format!(
                "{lab_file}:{}:{}: {general} — {help} (every student)\n",
                pos.line, pos.col
            ));
            count += 1;
        } else {
            for (st, t) in students {
                let who = if st.id.is_empty() {
                    String::new()
                } else {
                    format!("{}: ", st.at(&roster.file))
                };
                text.push_str(&format!("{lab_file}:{}:{}: {who}{t}\n", pos.line, pos.col));
                count += 1;
            }
        }
    }
    Err(Problems { text, count })
}

/// In one account, names that do not differ per student would be one resource for
/// the whole class: found before any call.
fn collisions(members: &[Member], roster_file: &str, found: &mut Found) {
    // (what, name) -> (where declared, students)
    let mut names: BTreeMap<(String, String), (Pos, Vec<Student>)> = BTreeMap::new();
    let mut add = |what: &str, name: String, pos: Pos, st: &Student| {
        names
            .entry((what.to_owned(), name))
            .or_insert_with(|| (pos, Vec::new()))
            .1
            .push(st.clone());
    };
    for m in members {
        let vars = crate::config::stand_in_vars(&m.lab);
        let (lab, _) = crate::config::expand(&m.lab, &vars);
        for (k, b) in &lab.buckets {
            if let Some(n) = vars.buckets.get(k) {
                add("bucket", n.clone(), b.pos, &m.student);
            }
        }
        if let Some(Role::Managed(r)) = &lab.role {
            add(
                "IAM role",
                crate::kind::role::name(r, &vars),
                r.pos,
                &m.student,
            );
        }
        for db in lab.catalog.databases.values() {
            add("glue database", db.name.clone(), db.pos, &m.student);
        }
        if let Some(net) = &lab.network {
            for s in net.subnets.values() {
                add("subnet CIDR", s.cidr.clone(), s.pos, &m.student);
            }
        }
    }
    for ((what, name), (pos, students)) in names {
        if students.len() < 2 {
            continue;
        }
        let who: Vec<&str> = students.iter().take(3).map(|s| s.id.as_str()).collect();
        let more = if students.len() > 3 {
            format!(" and {} more", students.len() - 3)
        } else {
            String::new()
        };
        let (message, help) = if what == "subnet CIDR" {
            (
                format!(
                    "subnet {name} is the same for students {}{more}: one account's default VPC cannot hold it twice",
                    who.join(", ")
                ),
                format!(
                    "in one account a class cannot share fixed subnets: leave `network` and `instances` out of the class's lab, or give each student an account (`profile` or `role_arn` in {roster_file})"
                ),
            )
        } else {
            (
                format!(
                    "{what} `{name}` is the same for students {}{more}, who share one account",
                    who.join(", ")
                ),
                "put `${lab}` or `${student}` in its name".to_owned(),
            )
        };
        // Said once, naming the students itself.
        let whole_class = Student {
            id: String::new(),
            line: 0,
            profile: None,
            role_arn: None,
            region: None,
            email: None,
        };
        found
            .entry((pos, message.clone(), help.clone()))
            .or_default()
            .push((whole_class, format!("{message} — {help}")));
    }
}

/// What labctl connects a student's lab with.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub region: String,
    pub profile: Option<String>,
    pub assume_role: Option<(String, String)>,
}

impl Target {
    pub fn of(member: &Member, profile: Option<&str>) -> Target {
        Target {
            region: member.lab.region.clone(),
            profile: member
                .student
                .profile
                .clone()
                .or(profile.map(str::to_owned)),
            assume_role: member
                .student
                .role_arn
                .clone()
                .map(|a| (a, format!("labctl-{}", member.student.id))),
        }
    }
}

/// Every student's run: in one account, one set of clients (and so one listing per
/// kind, one identity) per region; else clients per student. One rate limit for all.
pub async fn connect(
    class: &Class,
    profile: Option<&str>,
    destroying: bool,
) -> (Vec<(usize, Result<Arc<Run>>)>, Arc<aws::limit::Limiter>) {
    let limiter = aws::limit::Limiter::new();
    let mut shared: BTreeMap<(String, Option<String>), aws::Clients> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, m) in class.members.iter().enumerate() {
        let t = Target::of(m, profile);
        let opts = ConnectOptions {
            region: t.region.clone(),
            profile: t.profile.clone(),
            assume_role: t.assume_role.clone(),
            limiter: Some(limiter.clone()),
            ..Default::default()
        };
        let clients = if t.assume_role.is_none() {
            let key = (t.region.clone(), t.profile.clone());
            match shared.get(&key) {
                Some(c) => Ok(c.clone()),
                None => match aws::connect(&opts).await {
                    Ok(c) => {
                        shared.insert(key, c.clone());
                        Ok(c)
                    }
                    Err(e) => Err(e),
                },
            }
        } else {
            aws::connect(&opts).await
        };
        out.push((
            i,
            clients.map(|c| Arc::new(Run::new(c, &m.lab.name, destroying))),
        ));
    }
    (out, limiter)
}

/// One student's outcome.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub student: String,
    pub lab: String,
    pub status: &'static str,
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub done: usize,
    pub failed: usize,
    pub seconds: f64,
    pub error: Option<String>,
    pub plan: Option<Plan>,
    pub report: Option<apply::Report>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.failed == 0
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

/// Plans every student's lab at once, each read and planned as one lab is, with the
/// listings shared. Keeps each run for `apply_all`.
pub async fn plan_all(
    class: &Class,
    runs: Vec<(usize, Result<Arc<Run>>)>,
    opts: crate::plan::Options,
) -> Vec<(Outcome, Option<Arc<Run>>)> {
    // Each lab's role is claimed before any lab looks for leftovers, so no lab asks
    // whose another lab's role is (one IAM call per student saved, IAM being slow).
    for (i, run) in &runs {
        let (Ok(run), Some(Role::Managed(r))) = (run, &class.members[*i].lab.role) else {
            continue;
        };
        if let Ok(id) = run.identity().await {
            let m = &class.members[*i];
            let name = crate::kind::role::name(r, &m.lab.vars(&id.account_id));
            run.clients
                .listings
                .claim(&crate::kind::role::role_key(&name), &m.lab.name);
        }
    }
    let futures = runs.into_iter().map(|(i, run)| {
        let m = &class.members[i];
        aws::limit::RANK.scope(i as u64, async move {
            let started = Instant::now();
            let mut o = Outcome {
                student: m.student.id.clone(),
                lab: m.lab.name.clone(),
                ..Default::default()
            };
            let run = match run {
                Ok(r) => r,
                Err(e) => {
                    o.status = "failed";
                    o.error = Some(first_line(&format!("{e:#}")));
                    return (o, None);
                }
            };
            let plan = match crate::reconcile::plan(&run, &m.lab, opts).await {
                Ok(p) => p,
                Err(e) => {
                    o.status = "failed";
                    o.error = Some(first_line(&format!("{e:#}")));
                    o.seconds = started.elapsed().as_secs_f64();
                    return (o, None);
                }
            };
            (o.add, o.change, o.destroy) = plan.counts();
            o.status = if let Some(e) = plan.errors.first() {
                o.error = Some(format!("{}: {}", e.addr, e.message));
                "invalid"
            } else if plan.is_empty() {
                "in sync"
            } else {
                "changes"
            };
            o.seconds = started.elapsed().as_secs_f64();
            o.plan = Some(plan);
            (o, Some(run))
        })
    });
    let mut all: Vec<(Outcome, Option<Arc<Run>>)> = futures_util::stream::iter(futures)
        .buffer_unordered(64)
        .collect()
        .await;
    all.sort_by(|a, b| a.0.student.cmp(&b.0.student));
    all
}

/// Carries out every planned change, the whole class under one budget of actions in
/// flight; a lab that failed to plan is left as it is.
pub async fn apply_all(
    planned: Vec<(Outcome, Option<Arc<Run>>)>,
    parallelism: usize,
) -> Vec<Outcome> {
    let budget = Arc::new(Semaphore::new(parallelism.max(1)));
    let futures = planned.into_iter().enumerate().map(|(i, (mut o, run))| {
        let budget = budget.clone();
        aws::limit::RANK.scope(i as u64, async move {
            let (Some(run), Some(plan)) = (run, o.plan.as_ref()) else {
                return o;
            };
            if o.status != "changes" {
                return o;
            }
            let started = Instant::now();
            let report = apply::run(
                run.clone(),
                plan,
                apply::Options {
                    parallelism,
                    budget: Some(budget),
                },
                |_| {},
            )
            .await;
            o.done = report
                .outcomes
                .iter()
                .filter(|x| **x == apply::Outcome::Done)
                .count();
            o.failed = report.outcomes.len() - o.done;
            o.error = plan
                .actions
                .iter()
                .zip(&report.outcomes)
                .find_map(|(a, x)| match x {
                    apply::Outcome::Failed(e) => Some(format!("{}: {}", a.addr, first_line(e))),
                    _ => None,
                });
            o.status = if o.failed == 0 { "done" } else { "failed" };
            o.seconds += started.elapsed().as_secs_f64();
            o.report = Some(report);
            o
        })
    });
    let mut all: Vec<Outcome> = futures_util::stream::iter(futures)
        .buffer_unordered(256)
        .collect()
        .await;
    all.sort_by(|a, b| a.student.cmp(&b.student));
    all
}

/// Every student's checks, a few labs at a time (on an emulator each runs its
/// functions here).
pub async fn verify_all(
    class: &Class,
    runs: Vec<(usize, Result<Arc<Run>>)>,
    opts: &crate::verify::Options,
) -> Vec<(
    String,
    String,
    Result<crate::verify::Report, String>,
    Duration,
)> {
    let futures = runs.into_iter().map(|(i, run)| {
        let m = &class.members[i];
        aws::limit::RANK.scope(i as u64, async move {
            let started = Instant::now();
            let r = match run {
                Ok(run) => crate::verify::verify(&run, &m.lab, opts)
                    .await
                    .map_err(|e| first_line(&format!("{e:#}"))),
                Err(e) => Err(first_line(&format!("{e:#}"))),
            };
            (
                m.student.id.clone(),
                m.lab.name.clone(),
                r,
                started.elapsed(),
            )
        })
    });
    let mut all: Vec<_> = futures_util::stream::iter(futures)
        .buffer_unordered(4)
        .collect()
        .await;
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

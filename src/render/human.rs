//! Terraform-style text: `+ create`, `~ update` with `before -> after`, `- delete`,
//! `-/+ replace`, then a one-line summary.

use std::fmt::Write;

use crate::apply::{Outcome, Report};
use crate::kind::{Action, Plan};
use crate::plan::Op;

pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, op: Op, s: &str) -> String {
        if !self.color {
            return s.to_owned();
        }
        let code = match op {
            Op::Create => "32",
            Op::Update => "33",
            Op::Replace => "35",
            Op::Delete => "31",
        };
        format!("\x1b[{code}m{s}\x1b[0m")
    }
    fn bold(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
}

pub fn plan(p: &Plan, style: &Style) -> String {
    let mut out = String::new();
    for w in &p.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    if p.actions.is_empty() {
        out.push_str("No changes. The lab matches lab.yaml.\n");
        return out;
    }
    out.push_str("labctl will perform the following actions:\n\n");
    for a in &p.actions {
        out.push_str(&action(a, p, style));
    }
    let (add, change, destroy) = p.counts();
    let _ = writeln!(
        out,
        "\n{}",
        style.bold(&format!(
            "Plan: {add} to add, {change} to change, {destroy} to destroy."
        ))
    );
    out
}

fn action(a: &Action, p: &Plan, style: &Style) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "  {} {}",
        style.paint(a.op, &format!("{:<3}", a.op.symbol())),
        a.addr
    );
    if let Some(r) = &a.reason {
        let _ = write!(out, "  ({r})");
    }
    out.push('\n');
    if !a.deps.is_empty() {
        let deps: Vec<String> = a
            .deps
            .iter()
            .map(|&d| p.actions[d].addr.to_string())
            .collect();
        let _ = writeln!(out, "        after: {}", deps.join(", "));
    }
    for c in &a.changes {
        if a.op == Op::Create {
            let _ = writeln!(out, "        {}: {}", c.attr, c.after);
        } else {
            let _ = writeln!(out, "        {}: {} -> {}", c.attr, c.before, c.after);
        }
        if let Some(n) = &c.note {
            let _ = writeln!(out, "          note: {n}");
        }
    }
    out
}

pub fn started(a: &Action) -> String {
    format!("{} {}: {}...", a.op.symbol(), a.addr, progressive(a.op))
}

fn progressive(op: Op) -> &'static str {
    match op {
        Op::Create => "creating",
        Op::Update => "updating",
        Op::Replace => "replacing",
        Op::Delete => "deleting",
    }
}

pub fn finished(a: &Action, outcome: &Outcome, p: &Plan, secs: f64) -> String {
    match outcome {
        Outcome::Done => format!("{} {}: {} ({secs:.1}s)", a.op.symbol(), a.addr, past(a.op)),
        Outcome::Failed(e) => format!("! {}: failed: {e}", a.addr),
        Outcome::Skipped(d) => format!(
            "  {}: skipped: depends on failed {}",
            a.addr, p.actions[*d].addr
        ),
        Outcome::NotStarted => format!("  {}: not started", a.addr),
    }
}

fn past(op: Op) -> &'static str {
    match op {
        Op::Create => "created",
        Op::Update => "updated",
        Op::Replace => "replaced",
        Op::Delete => "deleted",
    }
}

pub fn summary(p: &Plan, r: &Report, verb: &str) -> String {
    let mut added = 0;
    let mut changed = 0;
    let mut destroyed = 0;
    let mut failed = 0;
    let mut skipped = 0;
    for (a, o) in p.actions.iter().zip(&r.outcomes) {
        match o {
            Outcome::Done => match a.op {
                Op::Create => added += 1,
                Op::Update => changed += 1,
                Op::Delete => destroyed += 1,
                Op::Replace => {
                    added += 1;
                    destroyed += 1;
                }
            },
            Outcome::Failed(_) => failed += 1,
            Outcome::Skipped(_) | Outcome::NotStarted => skipped += 1,
        }
    }
    let mut s = format!("{verb}: {added} added, {changed} changed, {destroyed} destroyed");
    if failed > 0 || skipped > 0 {
        let _ = write!(s, ", {failed} failed, {skipped} skipped");
    }
    let _ = write!(s, " in {:.1}s.", r.elapsed.as_secs_f64());
    if r.interrupted {
        s.push_str("\nInterrupted: no new actions were started; those in flight finished. Run the same command again to converge.");
    }
    if r.credentials_failed {
        s.push_str("\nStopped: AWS credentials expired or are invalid. Refresh them and run the same command again; it continues from what exists.");
    }
    if failed > 0 && !r.credentials_failed {
        s.push_str("\nFix the failures above and rerun: labctl continues from what exists.");
    }
    s
}

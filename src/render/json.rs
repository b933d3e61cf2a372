//! Machine-readable plans and reports. These types are the JSON contract; the model's
//! types are not serialized directly so they can change freely.

use serde::Serialize;

use crate::apply::{Outcome, Report};
use crate::kind::Plan;

#[derive(Serialize)]
struct JsonPlan<'a> {
    format_version: u32,
    changes: bool,
    summary: Summary,
    actions: Vec<JsonAction<'a>>,
    errors: Vec<JsonError<'a>>,
    warnings: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    notes: &'a [String],
}

#[derive(Serialize)]
struct Summary {
    add: usize,
    change: usize,
    destroy: usize,
}

#[derive(Serialize)]
struct JsonAction<'a> {
    id: usize,
    kind: &'static str,
    name: &'a str,
    action: &'static str,
    reason: Option<&'a str>,
    depends_on: &'a [usize],
    changes: Vec<JsonChange<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_ms: Option<u128>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_ms: Option<u128>,
}

#[derive(Serialize)]
struct JsonChange<'a> {
    attribute: &'a str,
    before: &'a str,
    after: &'a str,
    note: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonError<'a> {
    resource: String,
    message: &'a str,
    help: &'a str,
}

fn build<'a>(p: &'a Plan, r: Option<&Report>, notes: &'a [String]) -> JsonPlan<'a> {
    let (add, change, destroy) = p.counts();
    JsonPlan {
        format_version: 1,
        changes: !p.actions.is_empty(),
        summary: Summary {
            add,
            change,
            destroy,
        },
        actions: p
            .actions
            .iter()
            .enumerate()
            .map(|(i, a)| JsonAction {
                id: i,
                kind: a.addr.kind.label(),
                name: &a.addr.name,
                action: a.op.verb(),
                reason: a.reason.as_deref(),
                depends_on: &a.deps,
                changes: a
                    .changes
                    .iter()
                    .map(|c| JsonChange {
                        attribute: &c.attr,
                        before: &c.before,
                        after: &c.after,
                        note: c.note.as_deref(),
                    })
                    .collect(),
                outcome: r.map(|r| match &r.outcomes[i] {
                    Outcome::Done => "done".to_owned(),
                    Outcome::Failed(e) => format!("failed: {e}"),
                    Outcome::Skipped(d) => format!("skipped: depends on {d}"),
                    Outcome::NotStarted => "not started".to_owned(),
                }),
                start_ms: r
                    .and_then(|r| r.timings[i].as_ref())
                    .map(|t| t.start.as_millis()),
                end_ms: r
                    .and_then(|r| r.timings[i].as_ref())
                    .map(|t| t.end.as_millis()),
            })
            .collect(),
        errors: p
            .errors
            .iter()
            .map(|e| JsonError {
                resource: e.addr.to_string(),
                message: &e.message,
                help: &e.help,
            })
            .collect(),
        warnings: &p.warnings,
        notes,
    }
}

pub fn plan(p: &Plan) -> String {
    serde_json::to_string_pretty(&build(p, None, &[])).unwrap_or_default()
}

pub fn report(p: &Plan, r: &Report, notes: &[String]) -> String {
    serde_json::to_string_pretty(&build(p, Some(r), notes)).unwrap_or_default()
}

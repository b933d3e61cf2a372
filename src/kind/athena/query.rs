//! `labctl query WORKGROUP "SQL"`: one query in one of the lab's workgroups, waited for,
//! its rows returned. An emulator accepts queries without running them: that is said,
//! never shown as an empty result.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState};

use crate::aws::Run;
use crate::aws::error::Ctx;
use crate::kind::Lab;
use crate::yaml::diag::did_you_mean;

#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub workgroup: String,
    pub id: String,
    /// False on an emulator, which accepts SQL without running it.
    pub executed: bool,
    pub note: Option<String>,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub scanned_bytes: i64,
    pub seconds: f64,
    pub output: Option<String>,
}

pub async fn run(
    run: &Run,
    lab: &Lab,
    workgroup: &str,
    sql: &str,
    wait: Duration,
) -> Result<Answer> {
    if !lab.athena.workgroups.contains_key(workgroup) {
        let names: Vec<&str> = lab.athena.workgroups.keys().map(String::as_str).collect();
        let help = did_you_mean(workgroup, &names)
            .map(|m| format!("did you mean `{m}`?"))
            .unwrap_or_else(|| {
                if names.is_empty() {
                    "declare one under `athena.workgroups`".into()
                } else {
                    format!("workgroups: {}", names.join(", "))
                }
            });
        bail!("the lab declares no athena workgroup `{workgroup}`\n  help: {help}");
    }
    let physical = lab.physical(workgroup);
    let c = &run.clients.athena;
    let started = Instant::now();
    // The lab's (first) database: `FROM backups` needs no database name.
    let vars = lab.vars(&run.identity().await?.account_id);
    let (lab, _) = crate::config::expand(lab, &vars);
    let database = lab
        .catalog
        .databases
        .values()
        .next()
        .map(|d| d.name.clone());
    let id = c
        .start_query_execution()
        .work_group(&physical)
        .query_string(sql)
        .set_query_execution_context(
            database.map(|d| QueryExecutionContext::builder().database(d).build()),
        )
        .send()
        .await
        .ctx("athena:StartQueryExecution")?
        .query_execution_id()
        .unwrap_or_default()
        .to_owned();
    let mut answer = Answer {
        workgroup: physical.clone(),
        id: id.clone(),
        ..Default::default()
    };
    let mut delay = Duration::from_millis(250);
    let exec = loop {
        let o = c
            .get_query_execution()
            .query_execution_id(&id)
            .send()
            .await
            .ctx("athena:GetQueryExecution")?;
        let Some(q) = o.query_execution().cloned() else {
            bail!("Athena does not know query {id}");
        };
        let state = q.status().and_then(|s| s.state()).cloned();
        match state {
            Some(QueryExecutionState::Succeeded) => break q,
            Some(QueryExecutionState::Failed) | Some(QueryExecutionState::Cancelled) => {
                let why = q
                    .status()
                    .and_then(|s| s.state_change_reason())
                    .unwrap_or("no reason given");
                bail!(
                    "the query failed: {why}\n  help: check the SQL, and the table's columns with `labctl plan`"
                );
            }
            _ if started.elapsed() > wait => {
                let _ = c
                    .stop_query_execution()
                    .query_execution_id(&id)
                    .send()
                    .await;
                bail!(
                    "the query ran longer than {} s and was stopped\n  help: pass a longer --timeout, or scan less (a partition, a LIMIT)",
                    wait.as_secs()
                );
            }
            _ => {}
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    };
    answer.scanned_bytes = exec
        .statistics()
        .and_then(|s| s.data_scanned_in_bytes())
        .unwrap_or(0);
    answer.output = exec
        .result_configuration()
        .and_then(|r| r.output_location())
        .map(str::to_owned);
    if run.clients.endpoint.is_some() {
        // moto "succeeds" with any text at all, and writes no result.
        answer.note = Some(
            "the emulator accepted the query but does not execute SQL: no rows are shown, because none were computed. Run it against AWS for an answer".into(),
        );
        answer.seconds = started.elapsed().as_secs_f64();
        return Ok(answer);
    }
    answer.executed = true;
    let mut token = None;
    let mut first = true;
    loop {
        let o = c
            .get_query_results()
            .query_execution_id(&id)
            .set_next_token(token.clone())
            .send()
            .await
            .ctx("athena:GetQueryResults")?;
        if let Some(rs) = o.result_set() {
            if first {
                answer.columns = rs
                    .result_set_metadata()
                    .map(|m| {
                        m.column_info()
                            .iter()
                            .map(|c| c.name().to_owned())
                            .collect()
                    })
                    .unwrap_or_default();
            }
            for (i, row) in rs.rows().iter().enumerate() {
                let cells: Vec<String> = row
                    .data()
                    .iter()
                    .map(|d| d.var_char_value().unwrap_or_default().to_owned())
                    .collect();
                // A SELECT's first row repeats the column names.
                if first && i == 0 && cells == answer.columns {
                    continue;
                }
                answer.rows.push(cells);
            }
        }
        first = false;
        token = o.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    answer.seconds = started.elapsed().as_secs_f64();
    Ok(answer)
}

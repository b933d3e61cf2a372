//! Athena's AWS half: the lab's workgroups (named `<lab>-...`, theirs by tag) with their
//! settings and named queries; one step carried out.

use std::collections::BTreeMap;

use aws_sdk_athena::Client;
use aws_sdk_athena::types::{
    ResultConfiguration, ResultConfigurationUpdates, Tag, WorkGroupConfiguration,
    WorkGroupConfigurationUpdates, WorkGroupState,
};

use super::{Config, Live, LiveQuery, LiveWorkgroup, QueryStep, WgStep, Work};
use crate::aws::Run;
use crate::aws::error::{AwsError, Class, Ctx};
use crate::kind::Lab;
use crate::model::Tags;

/// Athena answers an unknown workgroup with InvalidRequestException.
fn missing(e: &AwsError) -> bool {
    e.class == Class::NotFound
        || (e.code == "InvalidRequestException" && e.message.to_lowercase().contains("not found"))
}

pub(super) async fn read(run: &Run, lab: &Lab) -> anyhow::Result<Live> {
    let c = &run.clients.athena;
    let prefix = format!("{}-", lab.name);
    // Every workgroup's name, listed once for every lab of the account (class mode).
    let every = run
        .clients
        .listings
        .get("athena:workgroups", || async {
            let mut names: Vec<String> = Vec::new();
            let mut token = None;
            loop {
                let (page, next) = run.discovery(
                    c.list_work_groups()
                        .set_next_token(token.clone())
                        .send()
                        .await
                        .ctx("athena:ListWorkGroups")
                        .map(|o| {
                            let page: Vec<String> = o
                                .work_groups()
                                .iter()
                                .filter_map(|w| w.name().map(str::to_owned))
                                .collect();
                            (page, o.next_token().map(str::to_owned))
                        }),
                    "athena workgroups",
                )?;
                names.extend(page);
                token = next;
                if token.is_none() {
                    return Ok::<_, AwsError>(names);
                }
            }
        })
        .await?;
    let names: Vec<String> = every
        .iter()
        .filter(|n| n.starts_with(&prefix))
        .cloned()
        .collect();
    let mut live = Live::default();
    if names.is_empty() {
        return Ok(live);
    }
    let account = run.identity().await?.account_id.clone();
    for name in names {
        let arn = format!("arn:aws:athena:{}:{account}:workgroup/{name}", run.region());
        let tags = tags_of(c, &arn).await?;
        let declared = lab
            .athena
            .workgroups
            .keys()
            .any(|k| lab.physical(k) == name);
        let ours = tags.get(crate::model::OWNER_TAG) == Some(&lab.name);
        if !ours && !declared {
            continue;
        }
        let w = match c
            .get_work_group()
            .work_group(&name)
            .send()
            .await
            .ctx("athena:GetWorkGroup")
        {
            Ok(o) => o,
            Err(e) if missing(&e) => continue,
            Err(e) => return Err(e.into()),
        };
        let Some(w) = w.work_group() else {
            continue;
        };
        let cfg = w.configuration();
        let queries = if ours {
            queries(c, &name).await?
        } else {
            BTreeMap::new()
        };
        live.workgroups.insert(
            name,
            LiveWorkgroup {
                enabled: w.state() != Some(&WorkGroupState::Disabled),
                config: Config {
                    output: cfg
                        .and_then(|c| c.result_configuration())
                        .and_then(|r| r.output_location())
                        .unwrap_or_default()
                        .to_owned(),
                    enforce: cfg
                        .and_then(|c| c.enforce_work_group_configuration())
                        .unwrap_or(false),
                    cutoff_bytes: cfg.and_then(|c| c.bytes_scanned_cutoff_per_query()),
                },
                description: w.description().unwrap_or_default().to_owned(),
                tags,
                queries,
            },
        );
    }
    Ok(live)
}

async fn tags_of(c: &Client, arn: &str) -> Result<Tags, AwsError> {
    let mut out = Tags::new();
    let mut token = None;
    loop {
        let o = match c
            .list_tags_for_resource()
            .resource_arn(arn)
            .set_next_token(token.clone())
            .send()
            .await
            .ctx("athena:ListTagsForResource")
        {
            Ok(o) => o,
            Err(e) if missing(&e) => return Ok(out),
            Err(e) => return Err(e),
        };
        for t in o.tags() {
            if let (Some(k), Some(v)) = (t.key(), t.value()) {
                out.insert(k.to_owned(), v.to_owned());
            }
        }
        token = o.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(out);
        }
    }
}

async fn queries(c: &Client, workgroup: &str) -> Result<BTreeMap<String, LiveQuery>, AwsError> {
    let mut ids = Vec::new();
    let mut token = None;
    loop {
        let o = c
            .list_named_queries()
            .work_group(workgroup)
            .set_next_token(token.clone())
            .send()
            .await
            .ctx("athena:ListNamedQueries")?;
        ids.extend(o.named_query_ids().iter().cloned());
        token = o.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let mut out = BTreeMap::new();
    // One GetNamedQuery each: a lab has a handful, and emulators lack the batch call.
    let got = futures_util::future::join_all(
        ids.iter()
            .map(|id| c.get_named_query().named_query_id(id).send()),
    )
    .await;
    for r in got {
        let o = r.ctx("athena:GetNamedQuery")?;
        if let Some(q) = o.named_query() {
            out.insert(
                q.name().to_owned(),
                LiveQuery {
                    id: q.named_query_id().unwrap_or_default().to_owned(),
                    sql: q.query_string().to_owned(),
                    database: q.database().to_owned(),
                    description: q.description().unwrap_or_default().to_owned(),
                },
            );
        }
    }
    Ok(out)
}

fn config(cfg: &Config) -> WorkGroupConfiguration {
    WorkGroupConfiguration::builder()
        .result_configuration(
            ResultConfiguration::builder()
                .output_location(&cfg.output)
                .build(),
        )
        .enforce_work_group_configuration(cfg.enforce)
        .set_bytes_scanned_cutoff_per_query(cfg.cutoff_bytes)
        .publish_cloud_watch_metrics_enabled(true)
        .build()
}

pub(super) async fn execute(run: &Run, w: &Work) -> Result<(), AwsError> {
    let c = &run.clients.athena;
    match w {
        Work::Workgroup { name, step } => match step {
            WgStep::Create {
                config: cfg,
                description,
                tags,
            } => {
                let r = c
                    .create_work_group()
                    .name(name)
                    .configuration(config(cfg))
                    .set_description((!description.is_empty()).then(|| description.clone()))
                    .set_tags(Some(
                        tags.iter()
                            .map(|(k, v)| Tag::builder().key(k).value(v).build())
                            .collect(),
                    ))
                    .send()
                    .await
                    .ctx("athena:CreateWorkGroup");
                match r {
                    Err(e)
                        if e.code == "InvalidRequestException" && e.message.contains("already") =>
                    {
                        run.note(format!("athena workgroup {name}: already created"));
                        Ok(())
                    }
                    other => other.map(|_| ()),
                }
            }
            WgStep::Update {
                config: cfg,
                description,
                enable,
            } => c
                .update_work_group()
                .work_group(name)
                .description(description)
                .configuration_updates(
                    WorkGroupConfigurationUpdates::builder()
                        .result_configuration_updates(
                            ResultConfigurationUpdates::builder()
                                .output_location(&cfg.output)
                                .build(),
                        )
                        .enforce_work_group_configuration(cfg.enforce)
                        .set_bytes_scanned_cutoff_per_query(cfg.cutoff_bytes)
                        .build(),
                )
                .set_state(enable.then_some(WorkGroupState::Enabled))
                .send()
                .await
                .ctx("athena:UpdateWorkGroup")
                .map(|_| ()),
            WgStep::Tags(d) => {
                let account = run
                    .identity()
                    .await
                    .map(|i| i.account_id.clone())
                    .unwrap_or_default();
                let arn = format!("arn:aws:athena:{}:{account}:workgroup/{name}", run.region());
                if !d.set.is_empty() {
                    c.tag_resource()
                        .resource_arn(&arn)
                        .set_tags(Some(
                            d.set
                                .iter()
                                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                                .collect(),
                        ))
                        .send()
                        .await
                        .ctx("athena:TagResource")?;
                }
                if !d.remove.is_empty() {
                    c.untag_resource()
                        .resource_arn(&arn)
                        .set_tag_keys(Some(d.remove.clone()))
                        .send()
                        .await
                        .ctx("athena:UntagResource")?;
                }
                Ok(())
            }
            WgStep::Delete => match c
                .delete_work_group()
                .work_group(name)
                .recursive_delete_option(true)
                .send()
                .await
                .ctx("athena:DeleteWorkGroup")
            {
                Err(e) if missing(&e) => Ok(()),
                other => other.map(|_| ()),
            },
        },
        Work::Query {
            workgroup,
            name,
            step,
        } => match step {
            QueryStep::Create {
                sql,
                database,
                description,
            } => create_query(c, workgroup, name, sql, database, description).await,
            QueryStep::Update {
                id,
                sql,
                description,
            } => c
                .update_named_query()
                .named_query_id(id)
                .name(name)
                .query_string(sql)
                .set_description((!description.is_empty()).then(|| description.clone()))
                .send()
                .await
                .ctx("athena:UpdateNamedQuery")
                .map(|_| ()),
            QueryStep::Replace {
                id,
                sql,
                database,
                description,
            } => {
                delete_query(c, id).await?;
                create_query(c, workgroup, name, sql, database, description).await
            }
            QueryStep::Delete { id } => delete_query(c, id).await,
        },
    }
}

async fn create_query(
    c: &Client,
    workgroup: &str,
    name: &str,
    sql: &str,
    database: &str,
    description: &str,
) -> Result<(), AwsError> {
    // The same token for the same query within the hour: a resend after a lost answer
    // makes no second one, and a query deleted and declared again later is made anew.
    let hour = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 3600)
        .unwrap_or_default();
    let token = crate::package::hex_sha256(
        format!("{workgroup}\n{name}\n{database}\n{sql}\n{hour}").as_bytes(),
    );
    c.create_named_query()
        .work_group(workgroup)
        .name(name)
        .query_string(sql)
        .database(database)
        .set_description((!description.is_empty()).then(|| description.to_owned()))
        .client_request_token(&token[..64])
        .send()
        .await
        .ctx("athena:CreateNamedQuery")
        .map(|_| ())
}

async fn delete_query(c: &Client, id: &str) -> Result<(), AwsError> {
    match c
        .delete_named_query()
        .named_query_id(id)
        .send()
        .await
        .ctx("athena:DeleteNamedQuery")
    {
        Err(e) if missing(&e) => Ok(()),
        other => other.map(|_| ()),
    }
}

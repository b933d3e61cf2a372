//! The catalog's AWS half: reads the lab's databases (by tag or declared name) with
//! their tables, and the lab's crawlers; carries out one step.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_glue::Client;
use aws_sdk_glue::types::{
    Column, CrawlerTargets, DatabaseInput, S3Target, SerDeInfo, StorageDescriptor, TableInput,
};

use super::{
    CrawlerDef, CrawlerStep, DbStep, Live, LiveCrawler, LiveDatabase, TableDef, TableStep, Work,
};
use crate::aws::Run;
use crate::aws::error::{AwsError, Class, Ctx, build_err};
use crate::kind::Lab;
use crate::model::{OWNER_TAG, Tags};

fn arn(run: &Run, account: &str, what: &str, name: &str) -> String {
    format!("arn:aws:glue:{}:{account}:{what}/{name}", run.region())
}

async fn tags_of(c: &Client, arn: &str) -> Result<Tags, AwsError> {
    match c
        .get_tags()
        .resource_arn(arn)
        .send()
        .await
        .ctx("glue:GetTags")
    {
        Ok(o) => Ok(o
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()),
        Err(e) if e.class == Class::NotFound => Ok(Tags::new()),
        Err(e) => Err(e),
    }
}

pub(super) async fn read(run: &Run, lab: &Lab) -> anyhow::Result<Live> {
    let mut live = Live::default();
    let c = &run.clients.glue;
    let declared = &lab.catalog;
    // Nothing declared and nothing to clean up is the common case: one listing decides.
    let account = run.identity().await?.account_id.clone();
    // Every database of the account with its owner, read once for every lab of the
    // account (class mode).
    let all = run
        .clients
        .listings
        .get("glue:databases", || async {
            let mut token = None;
            let mut names = Vec::new();
            loop {
                let (page, next) = run.discovery(
                    c.get_databases()
                        .set_next_token(token.clone())
                        .send()
                        .await
                        .ctx("glue:GetDatabases")
                        .map(|o| {
                            let page: Vec<(String, String)> = o
                                .database_list()
                                .iter()
                                .map(|d| {
                                    (
                                        d.name().to_owned(),
                                        d.description().unwrap_or_default().to_owned(),
                                    )
                                })
                                .collect();
                            (page, o.next_token().map(str::to_owned))
                        }),
                    "glue databases",
                )?;
                names.extend(page);
                token = next;
                if token.is_none() {
                    break;
                }
            }
            let tagged =
                futures_util::future::join_all(names.into_iter().map(|(name, description)| {
                    let arn = arn(run, &account, "database", &name);
                    async move { (name, description, tags_of(c, &arn).await) }
                }))
                .await;
            tagged
                .into_iter()
                .map(|(n, d, t)| t.map(|t| (n, d, t)))
                .collect::<Result<Vec<(String, String, Tags)>, AwsError>>()
        })
        .await?;
    for (name, description, tags) in all.iter().cloned() {
        let ours = tags.get(OWNER_TAG).is_some_and(|o| o == &lab.name);
        if !ours && !declared.databases.values().any(|d| d.name == name) {
            continue;
        }
        let tables = if ours {
            tables(c, &name).await?
        } else {
            BTreeMap::new()
        };
        live.databases.insert(
            name,
            LiveDatabase {
                description,
                tags,
                tables,
            },
        );
    }
    // Crawlers: the lab's are named `<lab>-...`; their tags say whose they are.
    let prefix = format!("{}-", lab.name);
    let every = run
        .clients
        .listings
        .get("glue:crawlers", || async {
            let mut token = None;
            let mut found = Vec::new();
            loop {
                let (page, next) = run.discovery(
                    c.get_crawlers()
                        .set_next_token(token.clone())
                        .send()
                        .await
                        .ctx("glue:GetCrawlers")
                        .map(|o| (o.crawlers().to_vec(), o.next_token().map(str::to_owned))),
                    "glue crawlers",
                )?;
                found.extend(page);
                token = next;
                if token.is_none() {
                    return Ok::<_, AwsError>(found);
                }
            }
        })
        .await?;
    let found: Vec<aws_sdk_glue::types::Crawler> = every
        .iter()
        .filter(|cr| cr.name().is_some_and(|n| n.starts_with(&prefix)))
        .cloned()
        .collect();
    for cr in found {
        let name = cr.name().unwrap_or_default().to_owned();
        let tags = tags_of(c, &arn(run, &account, "crawler", &name)).await?;
        live.crawlers.insert(
            name,
            LiveCrawler {
                role: cr.role().unwrap_or_default().to_owned(),
                database: cr.database_name().unwrap_or_default().to_owned(),
                targets: cr
                    .targets()
                    .map(|t| {
                        t.s3_targets()
                            .iter()
                            .filter_map(|s| s.path().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                schedule: cr
                    .schedule()
                    .and_then(|s| s.schedule_expression())
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
                tags,
            },
        );
    }
    Ok(live)
}

fn columns(c: &[Column]) -> Vec<(String, String, String)> {
    c.iter()
        .map(|c| {
            (
                c.name().to_owned(),
                c.r#type().unwrap_or_default().to_owned(),
                c.comment().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn map(m: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    m.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

async fn tables(c: &Client, db: &str) -> Result<BTreeMap<String, TableDef>, AwsError> {
    let mut out = BTreeMap::new();
    let mut token = None;
    loop {
        let o = c
            .get_tables()
            .database_name(db)
            .set_next_token(token.clone())
            .send()
            .await
            .ctx("glue:GetTables")?;
        for t in o.table_list() {
            let sd = t.storage_descriptor();
            let serde = sd.and_then(|s| s.serde_info());
            out.insert(
                t.name().to_owned(),
                TableDef {
                    location: sd.and_then(|s| s.location()).unwrap_or_default().to_owned(),
                    columns: sd.map(|s| columns(s.columns())).unwrap_or_default(),
                    partitions: columns(t.partition_keys()),
                    serde: serde
                        .and_then(|s| s.serialization_library())
                        .unwrap_or_default()
                        .to_owned(),
                    input_format: sd
                        .and_then(|s| s.input_format())
                        .unwrap_or_default()
                        .to_owned(),
                    output_format: sd
                        .and_then(|s| s.output_format())
                        .unwrap_or_default()
                        .to_owned(),
                    serde_params: map(serde.and_then(|s| s.parameters())),
                    params: map(t.parameters()),
                    description: t.description().unwrap_or_default().to_owned(),
                },
            );
        }
        token = o.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(out);
        }
    }
}

fn column_list(c: &[(String, String, String)]) -> Result<Vec<Column>, AwsError> {
    c.iter()
        .map(|(n, t, comment)| {
            Column::builder()
                .name(n)
                .r#type(t)
                .set_comment((!comment.is_empty()).then(|| comment.clone()))
                .build()
                .map_err(build_err)
        })
        .collect()
}

fn table_input(name: &str, d: &TableDef) -> Result<TableInput, AwsError> {
    let hm = |m: &BTreeMap<String, String>| -> HashMap<String, String> {
        m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    TableInput::builder()
        .name(name)
        .set_description((!d.description.is_empty()).then(|| d.description.clone()))
        .table_type("EXTERNAL_TABLE")
        .set_parameters(Some(hm(&d.params)))
        .set_partition_keys(Some(column_list(&d.partitions)?))
        .storage_descriptor(
            StorageDescriptor::builder()
                .set_columns(Some(column_list(&d.columns)?))
                .location(&d.location)
                .input_format(&d.input_format)
                .output_format(&d.output_format)
                .serde_info(
                    SerDeInfo::builder()
                        .serialization_library(&d.serde)
                        .set_parameters(Some(hm(&d.serde_params)))
                        .build(),
                )
                .build(),
        )
        .build()
        .map_err(build_err)
}

fn targets(d: &CrawlerDef) -> CrawlerTargets {
    CrawlerTargets::builder()
        .set_s3_targets(Some(
            d.targets
                .iter()
                .map(|p| S3Target::builder().path(p).build())
                .collect(),
        ))
        .build()
}

pub(super) async fn execute(run: &Run, w: &Work) -> Result<(), AwsError> {
    let c = &run.clients.glue;
    match w {
        Work::Database { name, step } => database(run, c, name, step).await,
        Work::Table {
            database,
            name,
            step,
        } => match step {
            TableStep::Create(d) => match c
                .create_table()
                .database_name(database)
                .table_input(table_input(name, d)?)
                .send()
                .await
                .ctx("glue:CreateTable")
            {
                // An earlier attempt's answer was lost: make it what lab.yaml says.
                Err(e) if e.code == "AlreadyExistsException" => {
                    run.note(format!(
                        "glue table {database}.{name}: already there, updated"
                    ));
                    c.update_table()
                        .database_name(database)
                        .table_input(table_input(name, d)?)
                        .send()
                        .await
                        .ctx("glue:UpdateTable")
                        .map(|_| ())
                }
                other => other.map(|_| ()),
            },
            TableStep::Update(d) => c
                .update_table()
                .database_name(database)
                .table_input(table_input(name, d)?)
                .send()
                .await
                .ctx("glue:UpdateTable")
                .map(|_| ()),
            TableStep::Delete => gone(
                c.delete_table()
                    .database_name(database)
                    .name(name)
                    .send()
                    .await
                    .ctx("glue:DeleteTable"),
            ),
        },
        Work::Crawler { name, step } => crawler(run, c, name, step).await,
    }
}

/// Sets and removes tags: Glue takes both by ARN.
async fn retag(c: &Client, arn: &str, d: &crate::plan::tags::TagDiff) -> Result<(), AwsError> {
    if !d.set.is_empty() {
        c.tag_resource()
            .resource_arn(arn)
            .set_tags_to_add(Some(d.set.clone().into_iter().collect()))
            .send()
            .await
            .ctx("glue:TagResource")?;
    }
    if !d.remove.is_empty() {
        c.untag_resource()
            .resource_arn(arn)
            .set_tags_to_remove(Some(d.remove.clone()))
            .send()
            .await
            .ctx("glue:UntagResource")?;
    }
    Ok(())
}

fn gone<T>(r: Result<T, AwsError>) -> Result<(), AwsError> {
    match r {
        Err(e) if e.class == Class::NotFound => Ok(()),
        other => other.map(|_| ()),
    }
}

async fn database(run: &Run, c: &Client, name: &str, step: &DbStep) -> Result<(), AwsError> {
    let account = run
        .identity()
        .await
        .map_err(|e| AwsError {
            op: "sts:GetCallerIdentity",
            code: "IdentityError".into(),
            message: format!("{e:#}"),
            status: None,
            class: Class::Fatal,
        })?
        .account_id
        .clone();
    let arn = arn(run, &account, "database", name);
    match step {
        DbStep::Create { description, tags } => {
            let input = DatabaseInput::builder()
                .name(name)
                .set_description((!description.is_empty()).then(|| description.clone()))
                .build()
                .map_err(build_err)?;
            let r = c
                .create_database()
                .database_input(input)
                .set_tags(Some(tags.clone().into_iter().collect()))
                .send()
                .await
                .ctx("glue:CreateDatabase");
            match r {
                Err(e) if e.code == "AlreadyExistsException" => {
                    // Ours only if it carries our tag (an answer lost earlier).
                    let have = tags_of(c, &arn).await?;
                    if have.get(OWNER_TAG) == tags.get(OWNER_TAG) {
                        run.note(format!("glue database {name}: already created"));
                        Ok(())
                    } else {
                        Err(e)
                    }
                }
                other => other.map(|_| ()),
            }
        }
        DbStep::Update { description } => {
            let input = DatabaseInput::builder()
                .name(name)
                .description(description)
                .build()
                .map_err(build_err)?;
            c.update_database()
                .name(name)
                .database_input(input)
                .send()
                .await
                .ctx("glue:UpdateDatabase")
                .map(|_| ())
        }
        DbStep::Tags(d) => retag(c, &arn, d).await,
        DbStep::Delete => gone(
            c.delete_database()
                .name(name)
                .send()
                .await
                .ctx("glue:DeleteDatabase"),
        ),
    }
}

async fn crawler(run: &Run, c: &Client, name: &str, step: &CrawlerStep) -> Result<(), AwsError> {
    match step {
        CrawlerStep::Create { def, tags } => {
            let r = c
                .create_crawler()
                .name(name)
                .role(&def.role)
                .database_name(&def.database)
                .targets(targets(def))
                .set_schedule(def.schedule.clone())
                .set_tags(Some(tags.clone().into_iter().collect()))
                .send()
                .await
                .ctx("glue:CreateCrawler");
            match r {
                Err(e) if e.code == "AlreadyExistsException" => {
                    run.note(format!("glue crawler {name}: already created"));
                    Ok(())
                }
                other => other.map(|_| ()),
            }
        }
        CrawlerStep::Update(def) => c
            .update_crawler()
            .name(name)
            .role(&def.role)
            .database_name(&def.database)
            .targets(targets(def))
            .schedule(def.schedule.clone().unwrap_or_default())
            .send()
            .await
            .ctx("glue:UpdateCrawler")
            .map(|_| ()),
        CrawlerStep::Tags(d) => {
            let account = run
                .identity()
                .await
                .map(|i| i.account_id.clone())
                .unwrap_or_default();
            retag(c, &arn(run, &account, "crawler", name), d).await
        }
        CrawlerStep::Delete => gone(
            c.delete_crawler()
                .name(name)
                .send()
                .await
                .ctx("glue:DeleteCrawler"),
        ),
    }
}

//! The Glue catalog and the Athena workgroup of the shipped lab, checked through
//! separate SDK clients: made as declared, in sync after, drift found and repaired,
//! queries refused to pretend on the emulator, and nothing of the lab's left by destroy.

use crate::harness::{Lab, bucket, sdk, serverless_lab};

fn glue() -> aws_sdk_glue::Client {
    aws_sdk_glue::Client::new(&sdk())
}

fn athena() -> aws_sdk_athena::Client {
    aws_sdk_athena::Client::new(&sdk())
}

#[tokio::test]
async fn the_catalog_and_workgroup_are_made_kept_in_sync_and_destroyed() {
    let name = "t-athena";
    let db = "t_athena_backups";
    let wg = format!("{name}-lab");
    let lab = Lab::new(name, &serverless_lab(name));
    lab.run(&["apply", "--auto-approve"]).ok();

    // The database, tagged as the lab's; the table over the manifest, as declared.
    let d = glue().get_database().name(db).send().await.unwrap();
    assert_eq!(
        d.database().and_then(|d| d.description()),
        Some("Backups of the photo lab")
    );
    let arn = format!("arn:aws:glue:us-east-1:123456789012:database/{db}");
    let tags = glue().get_tags().resource_arn(&arn).send().await.unwrap();
    assert_eq!(
        tags.tags()
            .and_then(|t| t.get("labctl:lab"))
            .map(String::as_str),
        Some(name)
    );
    let t = glue()
        .get_table()
        .database_name(db)
        .name("backups")
        .send()
        .await
        .unwrap();
    let t = t.table().unwrap();
    let sd = t.storage_descriptor().unwrap();
    let cols: Vec<(String, String)> = sd
        .columns()
        .iter()
        .map(|c| {
            (
                c.name().to_owned(),
                c.r#type().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        cols,
        [
            ("key".into(), "string".into()),
            ("size".into(), "bigint".into()),
            ("etag".into(), "string".into()),
            ("backed_up_at".into(), "timestamp".into())
        ]
    );
    assert_eq!(
        sd.location(),
        Some(format!("s3://{}/manifest/", bucket(name, "backup")).as_str())
    );
    assert_eq!(
        sd.serde_info().and_then(|s| s.serialization_library()),
        Some("org.openx.data.jsonserde.JsonSerDe")
    );
    assert_eq!(t.table_type(), Some("EXTERNAL_TABLE"));

    // The workgroup: results apart from the table, enforced, a budget per query.
    let w = athena()
        .get_work_group()
        .work_group(&wg)
        .send()
        .await
        .unwrap();
    let cfg = w.work_group().and_then(|w| w.configuration()).unwrap();
    assert_eq!(
        cfg.result_configuration().and_then(|r| r.output_location()),
        Some(format!("s3://{}/athena-results/", bucket(name, "backup")).as_str())
    );
    assert_eq!(cfg.enforce_work_group_configuration(), Some(true));
    assert_eq!(
        cfg.bytes_scanned_cutoff_per_query(),
        Some(100 * 1024 * 1024)
    );
    let ids = athena()
        .list_named_queries()
        .work_group(&wg)
        .send()
        .await
        .unwrap();
    assert_eq!(ids.named_query_ids().len(), 1);
    let q = athena()
        .get_named_query()
        .named_query_id(&ids.named_query_ids()[0])
        .send()
        .await
        .unwrap();
    let q = q.named_query().unwrap();
    assert_eq!((q.name(), q.database()), ("largest-backups", db));
    let sql = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("queries/largest-backups.sql"),
    )
    .unwrap();
    assert_eq!(q.query_string(), sql);
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);

    // Drift by hand: a column dropped, the budget removed. Found, and put back.
    let mut input = aws_sdk_glue::types::TableInput::builder()
        .name("backups")
        .table_type("EXTERNAL_TABLE")
        .storage_descriptor(
            aws_sdk_glue::types::StorageDescriptor::builder()
                .columns(
                    aws_sdk_glue::types::Column::builder()
                        .name("key")
                        .r#type("string")
                        .build()
                        .unwrap(),
                )
                .location(sd.location().unwrap_or_default())
                .build(),
        );
    if let Some(p) = t.parameters() {
        input = input.set_parameters(Some(p.clone()));
    }
    glue()
        .update_table()
        .database_name(db)
        .table_input(input.build().unwrap())
        .send()
        .await
        .unwrap();
    athena()
        .update_work_group()
        .work_group(&wg)
        .configuration_updates(
            aws_sdk_athena::types::WorkGroupConfigurationUpdates::builder()
                .enforce_work_group_configuration(false)
                .remove_bytes_scanned_cutoff_per_query(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let r = lab.run(&["plan", "--detailed-exitcode"]).code_is(2);
    let out = r.stdout();
    assert!(
        out.contains("~   glue table t_athena_backups.backups")
            && out.contains("columns: key string -> key string, size bigint, etag string, backed_up_at timestamp"),
        "{out}"
    );
    assert!(
        out.contains("enforce: false -> true")
            && out.contains("bytes scanned limit: none -> 100 MB per query"),
        "{out}"
    );
    lab.run(&["apply", "--auto-approve"]).ok();
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);

    // A query on the emulator says it was not run, instead of showing no rows.
    let r = lab
        .run(&["query", "lab", "SELECT * FROM t_athena_backups.backups"])
        .ok();
    assert!(
        r.stdout().contains("does not execute SQL"),
        "{}",
        r.stdout()
    );
    let r = lab.run(&["query", "lab", "SELECT 1", "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(v["executed"], false);
    let r = lab.run(&["query", "labs", "SELECT 1"]).code_is(1);
    assert!(r.stderr().contains("did you mean `lab`?"), "{}", r.stderr());

    // Destroy: the workgroup with its query, the table, the database.
    lab.run(&["destroy", "--auto-approve", "--empty-buckets"])
        .ok();
    assert!(glue().get_database().name(db).send().await.is_err());
    assert!(
        athena()
            .get_work_group()
            .work_group(&wg)
            .send()
            .await
            .map(|w| w.work_group().is_none())
            .unwrap_or(true)
    );
    let left = athena()
        .list_named_queries()
        .work_group(&wg)
        .send()
        .await
        .map(|o| o.named_query_ids().len())
        .unwrap_or(0);
    assert_eq!(left, 0);
}

//! Glue databases, tables and crawlers. A table names its database by `Ref`, so the
//! database is made first.

use serde_json::{Value as Json, json};

use super::plan::table_def;
use crate::export::{Template, id, sub, tag_map};
use crate::kind::Lab;
use crate::kind::role::cfn as role;
use crate::template::Vars;

pub fn export(lab: &Lab, vars: &Vars, t: &mut Template) {
    let c = &lab.catalog;
    for (key, d) in &c.databases {
        let mut input = json!({ "Name": sub(&d.name) });
        if !d.description.is_empty() {
            input["Description"] = json!(d.description);
        }
        t.resource(
            &database(key),
            "AWS::Glue::Database",
            json!({ "CatalogId": { "Ref": "AWS::AccountId" }, "DatabaseInput": input }),
        );
    }
    let cols = |c: &[(String, String, String)]| -> Json {
        c.iter()
            .map(|(n, ty, comment)| {
                let mut j = json!({ "Name": n, "Type": ty });
                if !comment.is_empty() {
                    j["Comment"] = json!(comment);
                }
                j
            })
            .collect()
    };
    for (name, tb) in &c.tables {
        let d = table_def(tb, vars);
        let mut input = json!({
            "Name": name,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": d.params,
            "StorageDescriptor": {
                "Location": sub(&d.location),
                "Columns": cols(&d.columns),
                "InputFormat": d.input_format,
                "OutputFormat": d.output_format,
                "SerdeInfo": {
                    "SerializationLibrary": d.serde,
                    "Parameters": d.serde_params,
                },
            },
        });
        if !d.partitions.is_empty() {
            input["PartitionKeys"] = cols(&d.partitions);
        }
        if !d.description.is_empty() {
            input["Description"] = json!(d.description);
        }
        t.resource(
            &id("Table", name),
            "AWS::Glue::Table",
            json!({
                "CatalogId": { "Ref": "AWS::AccountId" },
                "DatabaseName": db_ref(lab, &tb.database),
                "TableInput": input,
            }),
        );
    }
    for (name, cr) in &c.crawlers {
        let mut p = json!({
            "Name": lab.physical(name),
            "DatabaseName": db_ref(lab, &cr.database),
            "Targets": { "S3Targets": [{ "Path": sub(&cr.location.url(vars)) }] },
            "Tags": tag_map(lab, &cr.tags),
        });
        if let Some(r) = role::arn(lab) {
            p["Role"] = r;
        }
        if let Some(s) = &cr.schedule {
            p["Schedule"] = json!({ "ScheduleExpression": s });
        }
        t.resource(&id("Crawler", name), "AWS::Glue::Crawler", p);
    }
}

fn database(key: &str) -> String {
    id("Database", key)
}

/// A database of the lab by `Ref` (its name), else the name as written.
pub fn db_ref(lab: &Lab, key: &str) -> Json {
    if lab.catalog.databases.contains_key(key) {
        json!({ "Ref": database(key) })
    } else {
        sub(&lab.catalog.db_name(key))
    }
}

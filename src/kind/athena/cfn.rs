//! Athena workgroups, with their per-query limit, and their named queries.

use serde_json::json;

use crate::export::{Template, id, sub, tags};
use crate::kind::Lab;
use crate::kind::catalog::cfn::db_ref;
use crate::template::Vars;

pub fn export(lab: &Lab, vars: &Vars, t: &mut Template) {
    for (name, w) in &lab.athena.workgroups {
        let wid = id("Workgroup", name);
        let mut p = json!({
            "Name": lab.physical(name),
            "State": "ENABLED",
            "WorkGroupConfiguration": {
                "ResultConfiguration": { "OutputLocation": sub(&w.results.url(vars)) },
                "BytesScannedCutoffPerQuery": w.limit_mb * 1024 * 1024,
                "EnforceWorkGroupConfiguration": w.enforce,
                "PublishCloudWatchMetricsEnabled": true,
            },
            "Tags": tags(lab, &w.tags),
        });
        if !w.description.is_empty() {
            p["Description"] = json!(w.description);
        }
        t.resource(&wid, "AWS::Athena::WorkGroup", p);
        for (q, nq) in &w.queries {
            let database = match &nq.database {
                Some(d) if d == "default" => json!("default"),
                Some(d) => db_ref(lab, d),
                None => match lab.catalog.databases.keys().next() {
                    Some(k) => db_ref(lab, k),
                    None => json!("default"),
                },
            };
            let mut qp = json!({
                "Name": q,
                "Database": database,
                "QueryString": nq.sql,
                "WorkGroup": { "Ref": wid },
            });
            if !nq.description.is_empty() {
                qp["Description"] = json!(nq.description);
            }
            t.resource(
                &id(&format!("{wid}Query"), q),
                "AWS::Athena::NamedQuery",
                qp,
            );
        }
    }
}

//! `labctl outputs`: what a student needs once the lab is applied, read from AWS: the
//! buckets, functions and rules by their real names and ARNs, each instance's address
//! and ssh line, the Athena workgroups and Glue databases, with console links on AWS.
//! Only reads; what is not there (yet) says so.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::{Value, json};

use crate::aws::Run;
use crate::aws::error::{Class, Ctx};
use crate::kind::Lab;
use crate::names::{function_arn, rule_name};

#[derive(Debug, Default)]
pub struct Outputs {
    pub lab: String,
    pub region: String,
    pub account: String,
    /// Console links only make sense on AWS, not on an emulator.
    pub on_aws: bool,
    /// By the name in lab.yaml: (real name, exists).
    pub buckets: BTreeMap<String, (String, bool)>,
    /// By the name in lab.yaml: (real name, ARN, exists).
    pub functions: BTreeMap<String, (String, String, bool)>,
    /// By rule name: (ARN, state, function), for rules that exist.
    pub rules: BTreeMap<String, (String, String, String)>,
    pub instances: Vec<crate::kind::instance::Reachable>,
    /// By the name in lab.yaml: (real name, exists).
    pub workgroups: BTreeMap<String, (String, bool)>,
    pub databases: BTreeMap<String, String>,
}

pub async fn read(run: &Run, declared: &Lab) -> Result<Outputs> {
    let identity = run.identity().await?.clone();
    let vars = declared.vars(&identity.account_id);
    let (lab, _) = crate::config::expand(declared, &vars);
    let c = &run.clients;
    let region = c.region.clone();
    let mut o = Outputs {
        lab: lab.name.clone(),
        region: region.clone(),
        account: identity.account_id.clone(),
        on_aws: c.endpoint.is_none(),
        ..Default::default()
    };
    for (logical, name) in &vars.buckets {
        let exists = match c
            .s3
            .head_bucket()
            .bucket(name)
            .send()
            .await
            .ctx("HeadBucket")
        {
            Ok(_) => true,
            Err(e) if e.class == Class::NotFound || e.status == Some(404) => false,
            Err(e) => return Err(e.into()),
        };
        o.buckets.insert(logical.clone(), (name.clone(), exists));
    }
    for (logical, f) in &lab.lambda.functions {
        let name = lab.physical(logical);
        let found = match c
            .lambda
            .get_function()
            .function_name(&name)
            .send()
            .await
            .ctx("GetFunction")
        {
            Ok(r) => r
                .configuration()
                .and_then(|c| c.function_arn())
                .map(str::to_owned),
            Err(e) if e.class == Class::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        let exists = found.is_some();
        let arn = found.unwrap_or_else(|| function_arn(&region, &identity.account_id, &name));
        for (i, t) in f.triggers.iter().enumerate() {
            if t.via != crate::kind::lambda::Via::EventBridge {
                continue;
            }
            let rule = rule_name(&name, i);
            match c
                .events
                .describe_rule()
                .name(&rule)
                .send()
                .await
                .ctx("DescribeRule")
            {
                Ok(r) => {
                    o.rules.insert(
                        rule,
                        (
                            r.arn().unwrap_or_default().to_owned(),
                            r.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                            logical.clone(),
                        ),
                    );
                }
                Err(e) if e.class == Class::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        o.functions.insert(logical.clone(), (name, arn, exists));
    }
    if !lab.instances.is_empty() {
        o.instances = crate::kind::instance::reachable(run, &lab).await?;
    }
    for logical in lab.athena.workgroups.keys() {
        let name = lab.physical(logical);
        let exists = match c
            .athena
            .get_work_group()
            .work_group(&name)
            .send()
            .await
            .ctx("GetWorkGroup")
        {
            Ok(_) => true,
            // Athena answers a missing workgroup with InvalidRequestException.
            Err(e) if e.class == Class::NotFound || e.code == "InvalidRequestException" => false,
            Err(e) => return Err(e.into()),
        };
        o.workgroups.insert(logical.clone(), (name, exists));
    }
    for logical in lab.catalog.databases.keys() {
        o.databases
            .insert(logical.clone(), lab.catalog.db_name(logical));
    }
    Ok(o)
}

impl Outputs {
    fn bucket_link(&self, name: &str) -> Option<String> {
        self.on_aws.then(|| {
            format!(
                "https://s3.console.aws.amazon.com/s3/buckets/{name}?region={}",
                self.region
            )
        })
    }

    fn function_link(&self, name: &str) -> Option<String> {
        self.on_aws.then(|| {
            format!(
                "https://{r}.console.aws.amazon.com/lambda/home?region={r}#/functions/{name}",
                r = self.region
            )
        })
    }

    fn workgroup_link(&self, name: &str) -> Option<String> {
        self.on_aws.then(|| {
            format!(
                "https://{r}.console.aws.amazon.com/athena/home?region={r}#/query-editor?workgroup={name}",
                r = self.region
            )
        })
    }

    /// Nothing of the lab is there: it has not been applied.
    pub fn empty(&self) -> bool {
        !self.buckets.values().any(|b| b.1)
            && !self.functions.values().any(|f| f.2)
            && self.instances.is_empty()
            && !self.workgroups.values().any(|w| w.1)
    }

    /// Stable JSON for scripts (`format_version` changes if a field does).
    pub fn json(&self) -> Value {
        let buckets: serde_json::Map<String, Value> = self
            .buckets
            .iter()
            .map(|(k, (name, exists))| {
                (
                    k.clone(),
                    json!({ "name": name, "exists": exists, "console": self.bucket_link(name) }),
                )
            })
            .collect();
        let functions: serde_json::Map<String, Value> = self
            .functions
            .iter()
            .map(|(k, (name, arn, exists))| {
                (
                    k.clone(),
                    json!({ "name": name, "arn": arn, "exists": exists, "console": self.function_link(name) }),
                )
            })
            .collect();
        let rules: serde_json::Map<String, Value> = self
            .rules
            .iter()
            .map(|(k, (arn, state, function))| {
                (
                    k.clone(),
                    json!({ "arn": arn, "state": state, "function": function }),
                )
            })
            .collect();
        let instances: serde_json::Map<String, Value> = self
            .instances
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    json!({
                        "id": r.id,
                        "state": r.state,
                        "address": r.address,
                        "ssh": r.ssh().map(|c| c.join(" ")),
                    }),
                )
            })
            .collect();
        let workgroups: serde_json::Map<String, Value> = self
            .workgroups
            .iter()
            .map(|(k, (name, exists))| {
                (
                    k.clone(),
                    json!({ "name": name, "exists": exists, "console": self.workgroup_link(name) }),
                )
            })
            .collect();
        json!({
            "format_version": 1,
            "lab": self.lab,
            "region": self.region,
            "account": self.account,
            "buckets": buckets,
            "functions": functions,
            "rules": rules,
            "instances": instances,
            "workgroups": workgroups,
            "databases": self.databases,
        })
    }

    pub fn human(&self) -> String {
        let mut out = format!(
            "Lab {} in {} (account {}):\n",
            self.lab, self.region, self.account
        );
        let missing = |exists: bool| if exists { "" } else { "  (not created yet)" };
        let link = |l: Option<String>| l.map(|l| format!("\n      {l}")).unwrap_or_default();
        for (k, (name, exists)) in &self.buckets {
            out.push_str(&format!(
                "  bucket {k}: {name}{}{}\n",
                missing(*exists),
                link(self.bucket_link(name))
            ));
        }
        for (k, (name, arn, exists)) in &self.functions {
            out.push_str(&format!(
                "  function {k}: {name}  {arn}{}{}\n",
                missing(*exists),
                link(self.function_link(name))
            ));
        }
        for (name, (arn, state, function)) in &self.rules {
            out.push_str(&format!("  rule {name} ({state}) -> {function}: {arn}\n"));
        }
        for r in &self.instances {
            out.push_str(&format!("  {}\n", instance_line(r)));
        }
        for (k, (name, exists)) in &self.workgroups {
            out.push_str(&format!(
                "  athena workgroup {k}: {name}{}{}\n",
                missing(*exists),
                link(self.workgroup_link(name))
            ));
        }
        for (k, name) in &self.databases {
            out.push_str(&format!("  glue database {k}: {name}\n"));
        }
        if self.empty() {
            out.push_str("Nothing of the lab exists yet: run `labctl apply`.\n");
        }
        out
    }
}

/// How to reach one instance, as `outputs` and apply's `Outputs:` say it.
pub fn instance_line(r: &crate::kind::instance::Reachable) -> String {
    format!(
        "instance {}: {} {}  {}",
        r.name,
        r.state,
        r.address.as_deref().unwrap_or("-"),
        r.ssh()
            .map(|c| c.join(" "))
            .unwrap_or_else(|| "(no public address)".into())
    )
}

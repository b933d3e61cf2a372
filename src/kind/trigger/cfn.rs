//! Triggers in the template: a direct trigger is a `LambdaConfigurations` entry of its
//! bucket (which depends on the function's permission: S3 tests the destination when
//! the configuration is written), an EventBridge trigger a rule, with the bucket's
//! EventBridge delivery on.

use std::collections::BTreeSet;

use serde_json::{Value as Json, json};

use super::{pattern, s3_filter_value};
use crate::export::{Template, depends_on, id, sub, sub_all, tags};
use crate::kind::Lab;
use crate::kind::bucket::cfn::logical as bucket_id;
use crate::kind::lambda::Via;
use crate::kind::lambda::cfn::logical as function_id;
use crate::names::{bucket_arn, rule_name};
use crate::template::Vars;

pub fn export(lab: &Lab, vars: &Vars, t: &mut Template) {
    let mut permitted = BTreeSet::new();
    for (logical, f) in &lab.lambda.functions {
        let fname = lab.physical(logical);
        let function = json!({ "Fn::GetAtt": [function_id(logical), "Arn"] });
        for (i, tr) in f.triggers.iter().enumerate() {
            let Some(bucket) = vars.buckets.get(&tr.bucket) else {
                continue;
            };
            let bid = bucket_id(&tr.bucket);
            if !t.has(&bid) {
                continue;
            }
            match tr.via {
                Via::S3 => {
                    let perm = id(&format!("{}Permission", function_id(logical)), &tr.bucket);
                    if permitted.insert(perm.clone()) {
                        t.resource(
                            &perm,
                            "AWS::Lambda::Permission",
                            json!({
                                "FunctionName": { "Ref": function_id(logical) },
                                "Action": "lambda:InvokeFunction",
                                "Principal": "s3.amazonaws.com",
                                "SourceArn": sub(&bucket_arn(bucket)),
                                "SourceAccount": { "Ref": "AWS::AccountId" },
                            }),
                        );
                    }
                    let suffixes: Vec<Option<&String>> = if tr.suffixes.is_empty() {
                        vec![None]
                    } else {
                        tr.suffixes.iter().map(Some).collect()
                    };
                    let mut entries = Vec::new();
                    for sfx in &suffixes {
                        let mut rules = Vec::new();
                        if let Some(p) = &tr.prefix {
                            rules.push(json!({ "Name": "prefix", "Value": s3_filter_value(p) }));
                        }
                        if let Some(s) = sfx {
                            rules.push(json!({ "Name": "suffix", "Value": s3_filter_value(s) }));
                        }
                        // CloudFormation takes one event per entry.
                        for event in &tr.events {
                            let mut e = json!({ "Event": event, "Function": function.clone() });
                            if !rules.is_empty() {
                                e["Filter"] = json!({ "S3Key": { "Rules": rules } });
                            }
                            entries.push(e);
                        }
                    }
                    if let Some(props) = t.properties(&bid) {
                        let list = &mut props["NotificationConfiguration"]["LambdaConfigurations"];
                        if list.is_null() {
                            *list = json!([]);
                        }
                        if let Json::Array(v) = list {
                            v.extend(entries);
                        }
                    }
                    if let Some(b) = t.get(&bid) {
                        depends_on(b, &perm);
                    }
                }
                Via::EventBridge => {
                    if let Some(props) = t.properties(&bid) {
                        props["NotificationConfiguration"]["EventBridgeConfiguration"] =
                            json!({ "EventBridgeEnabled": true });
                    }
                    let rule = rule_name(&fname, i);
                    let rid = id("Rule", &rule);
                    let pattern: Json =
                        serde_json::from_str(&pattern(bucket, tr)).unwrap_or_default();
                    t.resource(
                        &rid,
                        "AWS::Events::Rule",
                        json!({
                            "Name": rule,
                            "EventPattern": sub_all(&pattern),
                            "State": "ENABLED",
                            "Targets": [{ "Id": fname, "Arn": function.clone() }],
                            "Tags": tags(lab, &Default::default()),
                        }),
                    );
                    t.resource(
                        &format!("{rid}Permission"),
                        "AWS::Lambda::Permission",
                        json!({
                            "FunctionName": { "Ref": function_id(logical) },
                            "Action": "lambda:InvokeFunction",
                            "Principal": "events.amazonaws.com",
                            "SourceArn": { "Fn::GetAtt": [rid, "Arn"] },
                        }),
                    );
                }
            }
        }
    }
}

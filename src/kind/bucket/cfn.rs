//! The buckets as `AWS::S3::Bucket`s, kept when the stack goes (`Retain`). Their
//! notifications are the trigger family's to add.

use serde_json::{Value as Json, json};

use super::{Bucket, Encryption, LifecycleRule, Transition};
use crate::export::{Template, id, retain, sub, tags};
use crate::kind::Lab;
use crate::template::Vars;

pub fn export(lab: &Lab, vars: &Vars, t: &mut Template) {
    for (key, name) in super::names(lab, vars) {
        let b = &lab.buckets[&key];
        let r = t.resource(&logical(&key), "AWS::S3::Bucket", props(lab, b, &name));
        retain(r);
        t.output(
            &format!("{}Name", logical(&key)),
            sub(&name),
            &format!("bucket {key}"),
        );
    }
}

/// The bucket's logical id, which the trigger family adds notifications to.
pub fn logical(key: &str) -> String {
    id("Bucket", key)
}

fn props(lab: &Lab, b: &Bucket, name: &str) -> Json {
    let mut p = json!({
        "BucketName": sub(name),
        "OwnershipControls": { "Rules": [{ "ObjectOwnership": "BucketOwnerEnforced" }] },
        "BucketEncryption": { "ServerSideEncryptionConfiguration": [{
            "ServerSideEncryptionByDefault": match &b.encryption {
                Encryption::Aes256 => json!({ "SSEAlgorithm": "AES256" }),
                Encryption::Kms { key: None } => json!({ "SSEAlgorithm": "aws:kms" }),
                Encryption::Kms { key: Some(k) } => {
                    json!({ "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": sub(k) })
                }
            }
        }] },
        "Tags": tags(lab, &b.tags),
    });
    if b.block_public_access {
        p["PublicAccessBlockConfiguration"] = json!({
            "BlockPublicAcls": true,
            "BlockPublicPolicy": true,
            "IgnorePublicAcls": true,
            "RestrictPublicBuckets": true,
        });
    }
    if b.versioning {
        p["VersioningConfiguration"] = json!({ "Status": "Enabled" });
    }
    if !b.lifecycle.is_empty() {
        p["LifecycleConfiguration"] =
            json!({ "Rules": b.lifecycle.iter().map(rule).collect::<Vec<_>>() });
    }
    p
}

fn rule(r: &LifecycleRule) -> Json {
    let moves = |ts: &[Transition]| -> Json {
        ts.iter()
            .map(|t| json!({ "TransitionInDays": t.days, "StorageClass": t.storage_class }))
            .collect()
    };
    let mut j = json!({
        "Id": r.id,
        "Status": if r.enabled { "Enabled" } else { "Disabled" },
    });
    if let Some(p) = &r.prefix {
        j["Prefix"] = sub(p);
    }
    if !r.transitions.is_empty() {
        j["Transitions"] = moves(&r.transitions);
    }
    if let Some(d) = r.expiration_days {
        j["ExpirationInDays"] = json!(d);
    }
    if !r.noncurrent_transitions.is_empty() {
        j["NoncurrentVersionTransitions"] = moves(&r.noncurrent_transitions);
    }
    if let Some(d) = r.noncurrent_expiration_days {
        j["NoncurrentVersionExpiration"] = json!({ "NoncurrentDays": d });
    }
    if let Some(d) = r.abort_incomplete_multipart_days {
        j["AbortIncompleteMultipartUpload"] = json!({ "DaysAfterInitiation": d });
    }
    j
}

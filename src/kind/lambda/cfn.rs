//! Layers as `AWS::Lambda::LayerVersion`s (kept when the stack goes: functions
//! elsewhere may use them) and functions as `AWS::Lambda::Function`s. Their code is
//! a zip in the artifact bucket, at a key that names its content.

use serde_json::json;

use crate::export::{Artifact, Template, id, retain, sub, tags};
use crate::kind::Lab;
use crate::names::layer_description;
use crate::package::{code_sha256, layer_key, zip_dir};
use crate::template::Vars;

pub fn export(lab: &Lab, _vars: &Vars, t: &mut Template) {
    for (name, l) in &lab.lambda.layers {
        let key = layer_key(&l.source, &l.runtimes, l.architecture).unwrap_or_default();
        let short = &key[..key.len().min(16)];
        let content = t.artifact(
            format!("{}/layers/{name}-{short}.zip", lab.name),
            Artifact::Layer(name.clone()),
        );
        let r = t.resource(
            &id("Layer", name),
            "AWS::Lambda::LayerVersion",
            json!({
                "LayerName": lab.physical(name),
                "Description": layer_description(&lab.name, &key),
                "Content": content,
                "CompatibleRuntimes": l.runtimes,
                "CompatibleArchitectures": [l.architecture.as_str()],
            }),
        );
        retain(r);
    }
    for (name, f) in &lab.lambda.functions {
        // Validation read the folder already; an unreadable one is an empty zip here.
        let zip = zip_dir(&f.code).unwrap_or_default();
        let sha = code_sha256(&zip);
        // CodeSha256 is base64: keep what is safe in a key.
        let short: String = sha
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(16)
            .collect();
        let code = t.artifact(
            format!("{}/functions/{name}-{short}.zip", lab.name),
            Artifact::Code(zip),
        );
        let mut p = json!({
            "FunctionName": lab.physical(name),
            "Runtime": f.runtime,
            "Handler": f.handler,
            "Code": code,
            "Timeout": f.timeout,
            "MemorySize": f.memory,
            "Architectures": [f.architecture.as_str()],
            "Tags": tags(lab, &f.tags),
        });
        if let Some(role) = super::super::role::cfn::arn(lab) {
            p["Role"] = role;
        }
        if !f.environment.is_empty() {
            let vars: serde_json::Map<String, serde_json::Value> = f
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), sub(v)))
                .collect();
            p["Environment"] = json!({ "Variables": vars });
        }
        if !f.layers.is_empty() {
            p["Layers"] = f
                .layers
                .iter()
                .map(|l| {
                    if lab.lambda.layers.contains_key(l) {
                        json!({ "Ref": id("Layer", l) })
                    } else {
                        sub(l)
                    }
                })
                .collect();
        }
        t.resource(&logical(name), "AWS::Lambda::Function", p);
        t.output(
            &format!("{}Arn", logical(name)),
            json!({ "Fn::GetAtt": [logical(name), "Arn"] }),
            &format!("function {name}"),
        );
    }
}

pub fn logical(name: &str) -> String {
    id("Function", name)
}

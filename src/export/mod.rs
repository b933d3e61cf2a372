//! `labctl export cloudformation`: the lab as a CloudFormation template (the course's
//! "CFT") that deploys the same resources. Each family writes its own part (its
//! folder's `cfn.rs`); this module holds the template, names and placeholders.
//!
//! Names are explicit, as labctl makes them. `${account_id}` and `${region}` become
//! `${AWS::AccountId}` and `${AWS::Region}` in an `Fn::Sub`, so one template serves any
//! account. A Lambda permission's source is the bucket's ARN written out, never a
//! `GetAtt` of the bucket, so the bucket can depend on the permission without a cycle.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{Map, Value as Json, json};

use crate::kind::Lab;
use crate::model::{OWNER_TAG, Tags};
use crate::template::Vars;

/// Stand-ins for what only CloudFormation knows, replaced in `sub`.
const ACCOUNT: &str = "\u{1}account\u{1}";
const REGION: &str = "\u{1}region\u{1}";

/// The template being built.
#[derive(Debug, Default)]
pub struct Template {
    pub lab: String,
    parameters: Map<String, Json>,
    resources: BTreeMap<String, Map<String, Json>>,
    outputs: Map<String, Json>,
    /// Files the template refers to, by S3 key under the artifact bucket.
    pub artifacts: BTreeMap<String, Artifact>,
}

/// A zip the stack needs in the artifact bucket before it is created.
#[derive(Debug, Clone)]
pub enum Artifact {
    /// A function's zip, as `apply` uploads it.
    Code(Vec<u8>),
    /// A layer: its zip, or built from its requirements.
    Layer(String),
}

impl Template {
    pub fn parameter(&mut self, id: &str, body: Json) {
        self.parameters.insert(id.into(), body);
    }

    /// Adds a resource; `extra` holds DependsOn and the deletion policies.
    pub fn resource(&mut self, id: &str, ty: &str, props: Json) -> &mut Map<String, Json> {
        let mut r = Map::new();
        r.insert("Type".into(), json!(ty));
        r.insert("Properties".into(), props);
        self.resources.insert(id.into(), r);
        self.resources.entry(id.into()).or_default()
    }

    /// A resource an earlier family added (triggers add to buckets).
    pub fn get(&mut self, id: &str) -> Option<&mut Map<String, Json>> {
        self.resources.get_mut(id)
    }

    /// The `Properties` of a resource an earlier family added.
    pub fn properties(&mut self, id: &str) -> Option<&mut Json> {
        self.get(id)
            .map(|r| r.entry("Properties").or_insert_with(|| json!({})))
    }

    pub fn has(&self, id: &str) -> bool {
        self.resources.contains_key(id)
    }

    pub fn output(&mut self, id: &str, value: Json, description: &str) {
        self.outputs.insert(
            id.into(),
            json!({ "Description": description, "Value": value }),
        );
    }

    /// The S3 location of an artifact, which the user uploads (`--artifacts DIR`).
    pub fn artifact(&mut self, key: String, a: Artifact) -> Json {
        self.artifacts.insert(key.clone(), a);
        json!({ "S3Bucket": { "Ref": "ArtifactBucket" }, "S3Key": key })
    }
}

/// Keeps what a user stored: the stack's deletion, or a replacement, leaves it.
pub fn retain(r: &mut Map<String, Json>) {
    r.insert("DeletionPolicy".into(), json!("Retain"));
    r.insert("UpdateReplacePolicy".into(), json!("Retain"));
}

pub fn depends_on(r: &mut Map<String, Json>, id: &str) {
    let list = r
        .entry("DependsOn")
        .or_insert_with(|| Json::Array(Vec::new()));
    if let Json::Array(v) = list
        && !v.iter().any(|x| x == id)
    {
        v.push(json!(id));
    }
}

/// A CloudFormation logical id: letters and digits only, each part capitalised.
pub fn id(kind: &str, name: &str) -> String {
    let mut out = String::from(kind);
    for part in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut cs = part.chars();
        if let Some(first) = cs.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(cs);
        }
    }
    out
}

/// A string as CloudFormation takes it: with the account or region in it, an `Fn::Sub`
/// (a `${` of its own, an IAM policy variable say, escaped as `${!`); else as it is.
pub fn sub(s: &str) -> Json {
    if !s.contains(ACCOUNT) && !s.contains(REGION) {
        return json!(s);
    }
    let text = s
        .replace("${", "${!")
        .replace(ACCOUNT, "${AWS::AccountId}")
        .replace(REGION, "${AWS::Region}");
    json!({ "Fn::Sub": text })
}

/// Every string of a JSON document through `sub` (policies, event patterns).
pub fn sub_all(v: &Json) -> Json {
    match v {
        Json::String(s) => sub(s),
        Json::Array(a) => Json::Array(a.iter().map(sub_all).collect()),
        Json::Object(m) => Json::Object(m.iter().map(|(k, v)| (k.clone(), sub_all(v))).collect()),
        other => other.clone(),
    }
}

/// The resource's tags with the lab's, and its owner tag (which `labctl plan` reads, so
/// a stack's resources are the lab's as labctl sees them), as CloudFormation's list.
pub fn tags(lab: &Lab, own: &Tags) -> Json {
    Json::Array(
        all_tags(lab, own)
            .iter()
            .map(|(k, v)| json!({ "Key": k, "Value": sub(v) }))
            .collect(),
    )
}

/// The same tags as a map (Glue, and other resources that take one).
pub fn tag_map(lab: &Lab, own: &Tags) -> Json {
    Json::Object(
        all_tags(lab, own)
            .iter()
            .map(|(k, v)| (k.clone(), sub(v)))
            .collect(),
    )
}

fn all_tags(lab: &Lab, own: &Tags) -> Tags {
    let mut all = lab.tags.clone();
    all.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    all.insert(OWNER_TAG.into(), lab.name.clone());
    all
}

/// The placeholders as the template fills them in.
pub fn vars(lab: &Lab) -> Vars {
    crate::config::vars_for(lab, ACCOUNT, REGION)
}

/// The lab (as decoded, placeholders not filled in) as a template.
pub fn cloudformation(lab: &Lab) -> Template {
    let (lab, _) = crate::config::expand(lab, &vars(lab));
    let mut t = Template {
        lab: lab.name.clone(),
        ..Default::default()
    };
    crate::kind::export(&lab, &mut t);
    if !t.artifacts.is_empty() {
        t.parameter(
            "ArtifactBucket",
            json!({
                "Type": "String",
                "Description": "A bucket in the stack's region holding the code and layer zips (`labctl export cloudformation --artifacts DIR`, then `aws s3 sync DIR s3://BUCKET/`)."
            }),
        );
    }
    t
}

impl Template {
    pub fn json(&self) -> Json {
        let mut m = Map::new();
        m.insert("AWSTemplateFormatVersion".into(), json!("2010-09-09"));
        m.insert(
            "Description".into(),
            json!(format!(
                "labctl lab {}, exported by labctl {}",
                self.lab,
                env!("CARGO_PKG_VERSION")
            )),
        );
        if !self.parameters.is_empty() {
            m.insert("Parameters".into(), Json::Object(self.parameters.clone()));
        }
        let resources: Map<String, Json> = self
            .resources
            .iter()
            .map(|(k, v)| (k.clone(), Json::Object(v.clone())))
            .collect();
        m.insert("Resources".into(), Json::Object(resources));
        if !self.outputs.is_empty() {
            m.insert("Outputs".into(), Json::Object(self.outputs.clone()));
        }
        Json::Object(m)
    }

    /// Writes each artifact under `dir` at its S3 key; a `requirements:` layer is
    /// built (or taken from the build cache) as `apply` builds it.
    pub fn write_artifacts(&self, lab: &Lab, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut written = Vec::new();
        for (key, a) in &self.artifacts {
            let bytes = match a {
                Artifact::Code(zip) => zip.clone(),
                Artifact::Layer(name) => {
                    let l = lab
                        .lambda
                        .layers
                        .get(name)
                        .with_context(|| format!("layer {name} is not declared"))?;
                    crate::package::layer_zip(&l.source, &l.runtimes, l.architecture)
                        .with_context(|| format!("building layer {name}"))?
                }
            };
            let path = dir.join(key);
            if let Some(p) = path.parent() {
                std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
            }
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
            written.push(path);
        }
        Ok(written)
    }
}

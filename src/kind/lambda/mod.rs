//! Lambda: the lab's layers, its functions, and each function's resource policy (who
//! may invoke it). One family, because a function's plan needs its layers' versions
//! and its permissions come from its triggers. Triggers are declared inside functions
//! (their type and decoding are here); what they mean is the trigger family's.

pub mod artifacts;
mod aws;
pub(crate) mod cfn;
mod decode;
mod plan;
#[cfg(test)]
mod tests;
mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use super::bucket::BUCKET;
use super::role::ROLE;
use super::{Ctx, Emit};
use super::{Lab, Resource};
use crate::aws::Run;
use crate::aws::error::AwsError;
use crate::model::{Keys, OWNER_TAG, Pos, Tags};
use crate::plan::Kind;
use crate::template::{Expander, Vars};
use crate::yaml::decode::{Decoder, Fields};
use crate::yaml::diag::Sink;
use crate::yaml::shape::Field;

pub use crate::package::{Arch, LayerSource};
pub use validate::RUNTIMES;

pub const LAYER: Kind = Kind("lambda layer");
pub const FUNCTION: Kind = Kind("lambda function");
pub const PERMISSIONS: Kind = Kind("lambda permissions");

pub struct Family;

impl Resource for Family {
    const SECTIONS: &'static [Field] = decode::SECTIONS;
    // A function runs as the role, loads the layers, and may write into the buckets.
    const USES: &'static [(Kind, Kind)] =
        &[(FUNCTION, ROLE), (FUNCTION, LAYER), (FUNCTION, BUCKET)];
    type Spec = Spec;
    type Live = Live;
    type Work = Work;

    fn decode(top: &Fields<'_>, d: &mut Decoder) -> Spec {
        decode::spec(top, d)
    }

    fn expand(spec: &mut Spec, x: &mut Expander<'_>) {
        for f in spec.functions.values_mut() {
            x.tags(&mut f.tags);
            for t in &mut f.triggers {
                if let Some(p) = &mut t.prefix {
                    x.text(p, t.pos);
                }
                for s in &mut t.suffixes {
                    x.text(s, t.pos);
                }
            }
        }
    }

    fn validate(lab: &Lab, vars: &Vars, s: &mut Sink) {
        validate::lambda(lab, vars, s);
    }

    fn summary(spec: &Spec) -> Vec<String> {
        vec![
            format!("{} function(s)", spec.functions.len()),
            format!("{} layer(s)", spec.layers.len()),
        ]
    }

    /// Declared functions and layers are read by name while the listings look for the
    /// lab's leftovers; the function packages are built meanwhile (not on destroy).
    async fn read(run: &Run, lab: &Lab) -> anyhow::Result<Live> {
        let functions: Vec<String> = lab
            .lambda
            .functions
            .keys()
            .map(|f| lab.physical(f))
            .collect();
        let layers: Vec<String> = lab.lambda.layers.keys().map(|l| lab.physical(l)).collect();
        // The requests go out first; packaging runs while AWS answers.
        let (fns, lys, artifacts) = tokio::join!(
            aws::read_functions(run, &functions),
            aws::read_layers(run, &layers),
            async {
                if run.destroying {
                    Ok(Artifacts::default())
                } else {
                    artifacts::build(lab)
                }
            },
        );
        let (layers, foreign_layers) = lys?;
        let mut artifacts = artifacts?;
        if !run.destroying {
            // pip may take a while: off the async threads.
            let (lab, live) = (lab.clone(), layers.clone());
            artifacts = tokio::task::spawn_blocking(move || {
                artifacts::build_new_layers(&lab, &mut artifacts, &live);
                artifacts
            })
            .await?;
        }
        Ok(Live {
            functions: fns?,
            layers,
            foreign_layers,
            artifacts,
        })
    }

    fn export(lab: &Lab, vars: &Vars, t: &mut crate::export::Template) {
        cfn::export(lab, vars, t);
    }

    fn plan(cx: &Ctx<'_>, out: &mut Emit<'_, Work>) {
        plan::plan(cx, out);
    }

    async fn execute(run: &Run, work: &Work) -> Result<(), AwsError> {
        match work {
            Work::Layer { name, steps } => {
                for step in steps {
                    aws::execute_layer(run, name, step).await?;
                }
                Ok(())
            }
            Work::Function { name, steps } => aws::execute_function(run, name, steps).await,
            Work::Permissions { function, steps } => {
                aws::execute_permissions(run, function, steps).await
            }
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spec {
    pub layers: BTreeMap<String, Layer>,
    pub functions: BTreeMap<String, Function>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub pos: Pos,
    pub keys: Keys,
    pub source: LayerSource,
    pub runtimes: Vec<String>,
    pub architecture: Arch,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub pos: Pos,
    pub keys: Keys,
    pub code: PathBuf,
    pub handler: String,
    pub runtime: String,
    pub architecture: Arch,
    pub timeout: i32,
    pub memory: i32,
    pub environment: BTreeMap<String, String>,
    pub layers: Vec<String>,
    pub triggers: Vec<Trigger>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub pos: Pos,
    /// Logical bucket name.
    pub bucket: String,
    pub events: Vec<String>,
    pub prefix: Option<String>,
    pub suffixes: Vec<String>,
    pub via: Via,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    S3,
    EventBridge,
}

/// Local build results the plan compares with live state, by logical name.
#[derive(Debug, Clone, Default)]
pub struct Artifacts {
    pub functions: BTreeMap<String, FunctionPackage>,
    pub layers: BTreeMap<String, LayerArtifact>,
}

#[derive(Debug, Clone)]
pub struct FunctionPackage {
    /// Lambda's CodeSha256 of `zip`.
    pub sha256: String,
    pub zip: Arc<Vec<u8>>,
    pub unzipped: u64,
}

#[derive(Debug, Clone)]
pub struct LayerArtifact {
    /// What the layer is built from, hashed: kept in its versions' descriptions.
    pub key: String,
    /// Sizes, where the zip is at hand (a `zip:` layer, or a built one).
    pub zipped: Option<u64>,
    pub unzipped: Option<u64>,
    /// Why a layer that must be published could not be built.
    pub build_error: Option<String>,
}

/// Lambda's limits for code uploaded directly and for a function with its layers.
pub const MAX_ZIPPED: u64 = 50 * 1024 * 1024;
pub const MAX_UNZIPPED: u64 = 250 * 1024 * 1024;

#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Declared functions and every function tagged as the lab's, by physical name.
    pub functions: BTreeMap<String, LiveFunction>,
    /// Versions of the lab's layers (by layer name) that labctl published.
    pub layers: BTreeMap<String, Vec<LiveLayerVersion>>,
    /// Declared layer names under which only others published: not the lab's.
    pub foreign_layers: BTreeSet<String>,
    /// What the lab's code and layers are now, built locally.
    pub artifacts: Artifacts,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveFunction {
    pub name: String,
    pub arn: String,
    pub runtime: String,
    pub handler: String,
    pub role: String,
    pub timeout: i32,
    pub memory: i32,
    pub environment: BTreeMap<String, String>,
    /// Layer version ARNs, in order.
    pub layers: Vec<String>,
    pub architecture: String,
    pub code_sha256: String,
    pub tags: Tags,
    /// Resource policy statements by Sid.
    pub permissions: BTreeMap<String, LivePermission>,
}

impl LiveFunction {
    pub fn owner(&self) -> Option<&str> {
        self.tags.get(OWNER_TAG).map(String::as_str)
    }
}

/// One statement of a function's resource policy, reduced to what labctl writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePermission {
    pub principal: String,
    pub source_arn: Option<String>,
    pub source_account: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveLayerVersion {
    pub version: i64,
    pub arn: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    Layer {
        name: String,
        steps: Vec<LayerStep>,
    },
    Function {
        name: String,
        steps: Vec<FunctionStep>,
    },
    Permissions {
        function: String,
        steps: Vec<PermissionStep>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum LayerStep {
    Publish {
        description: String,
        source: LayerSource,
        runtimes: Vec<String>,
        architecture: Arch,
    },
    DeleteVersion(i64),
}

/// A layer a function uses: a version that exists, or the one this run publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerRef {
    Arn(String),
    Published(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    pub role: String,
    pub runtime: String,
    pub handler: String,
    pub timeout: i32,
    pub memory: i32,
    pub environment: BTreeMap<String, String>,
    pub layers: Vec<LayerRef>,
    pub architecture: String,
    pub zip: Arc<Vec<u8>>,
    pub tags: Tags,
    /// The role (or its policies) changes in this run: IAM may take minutes to make it
    /// usable by Lambda, and the function waits that long.
    pub fresh_role: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FunctionStep {
    /// `wait_active: false` when the function's permissions action waits instead, so
    /// adding them overlaps Lambda's Pending state.
    Create {
        spec: Box<FunctionSpec>,
        wait_active: bool,
    },
    UpdateCode {
        zip: Arc<Vec<u8>>,
        architecture: String,
    },
    UpdateConfig(Box<FunctionSpec>),
    Tag {
        arn: String,
        set: Tags,
        remove: Vec<String>,
    },
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionStep {
    Add {
        sid: String,
        principal: String,
        source_arn: String,
        source_account: Option<String>,
    },
    Remove {
        sid: String,
    },
}

//! The lab's IAM role: created with its trust policy, inline policies, managed policy
//! attachments and tags, and compared by meaning, never by text; or an existing role
//! (AWS Academy's `LabRole`) used as it is, with no IAM write at all.

mod aws;
pub(crate) mod cfn;
mod decode;
mod plan;
pub mod policy;
#[cfg(test)]
mod tests;
mod validate;

use std::collections::BTreeMap;

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

pub const ROLE: Kind = Kind("iam role");

pub struct Family;

impl Resource for Family {
    const SECTIONS: &'static [Field] = decode::SECTIONS;
    type Spec = Option<Role>;
    type Live = Live;
    type Work = Work;

    fn decode(top: &Fields<'_>, d: &mut Decoder) -> Option<Role> {
        top.get("role").and_then(|n| decode::role(n, d))
    }

    fn expand(spec: &mut Option<Role>, x: &mut Expander<'_>) {
        match spec {
            Some(Role::Managed(r)) => {
                for a in &mut r.managed_policies {
                    x.text(a, r.pos);
                }
                x.tags(&mut r.tags);
            }
            Some(Role::Existing { pos, name }) => x.text(name, *pos),
            None => {}
        }
    }

    fn validate(lab: &Lab, vars: &Vars, s: &mut Sink) {
        if let Some(role) = &lab.role {
            validate::role(role, vars, s);
        }
    }

    fn summary(spec: &Option<Role>) -> Vec<String> {
        match spec {
            Some(_) => vec!["1 role".into()],
            None => vec![],
        }
    }

    /// Waits for STS only when the role's name holds the account id.
    async fn read(run: &Run, lab: &Lab) -> anyhow::Result<Live> {
        let account = match &lab.role {
            Some(Role::Managed(r)) if r.name.contains("account_id") => {
                run.identity().await?.account_id.clone()
            }
            _ => String::new(),
        };
        let vars = lab.vars(&account);
        let named = match &lab.role {
            Some(Role::Managed(r)) => Some((
                vars.expand(&r.name, false)
                    .unwrap_or_else(|_| r.name.clone()),
                false,
            )),
            Some(Role::Existing { name, .. }) => Some((
                vars.expand(name, false).unwrap_or_else(|_| name.clone()),
                true,
            )),
            None => None,
        };
        let (roles, existing) = aws::read(run, named.as_ref()).await?;
        let existing = match existing {
            None => None,
            Some(aws::ExistingRole::Arn(arn)) => Some(Ok(arn)),
            // Its ARN (or the error) names the account.
            Some(other) => Some(other.resolve(&run.identity().await?.account_id)),
        };
        Ok(Live { roles, existing })
    }

    fn export(lab: &Lab, vars: &Vars, t: &mut crate::export::Template) {
        cfn::export(lab, vars, t);
    }

    fn plan(cx: &Ctx<'_>, out: &mut Emit<'_, Work>) {
        plan::plan(cx, out);
    }

    async fn execute(run: &Run, work: &Work) -> Result<(), AwsError> {
        aws::execute(run, &work.name, &work.steps).await
    }
}

/// The key under which a class's lab claims its role (IAM names are case-insensitive).
pub fn role_key(name: &str) -> String {
    format!("iam:role:{}", name.to_ascii_lowercase())
}

/// The role's physical name, placeholders filled in.
pub fn name(r: &ManagedRole, vars: &Vars) -> String {
    vars.expand(&r.name, false)
        .unwrap_or_else(|_| r.name.clone())
}

#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// A role that exists already and that labctl must never change (AWS Academy's LabRole).
    Existing {
        pos: Pos,
        name: String,
    },
    Managed(ManagedRole),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ManagedRole {
    pub pos: Pos,
    pub keys: Keys,
    pub name: String,
    pub trust: Vec<String>,
    pub managed_policies: Vec<String>,
    pub policies: BTreeMap<String, Vec<Statement>>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub pos: Pos,
    pub effect: String,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    /// Passed through to IAM as written (after placeholder expansion).
    pub condition: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default)]
pub struct Live {
    /// The declared role (by name, whoever owns it) and every role tagged as the lab's.
    pub roles: BTreeMap<String, LiveRole>,
    /// For `role: { existing: NAME }`: its ARN, or why it could not be read.
    pub existing: Option<Result<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRole {
    pub name: String,
    pub arn: String,
    pub tags: Tags,
    /// Decoded JSON (IAM returns documents URL-encoded).
    pub trust: String,
    /// Inline policies: name -> decoded JSON document.
    pub inline: BTreeMap<String, String>,
    /// ARNs of attached managed policies.
    pub attached: Vec<String>,
}

impl LiveRole {
    pub fn owner(&self) -> Option<&str> {
        self.tags.get(OWNER_TAG).map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Work {
    pub name: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Create { trust: String, tags: Tags },
    UpdateTrust(String),
    PutPolicy(String, String),
    DeletePolicy(String),
    Attach(String),
    Detach(String),
    Tag(Tags),
    Untag(Vec<String>),
    Delete,
}

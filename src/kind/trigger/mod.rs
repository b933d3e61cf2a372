//! Triggers: what makes a function run when an object arrives. A direct trigger is an
//! entry of the bucket's notification configuration (written as a whole, keeping
//! entries labctl did not write); an EventBridge trigger is a rule per trigger, with the
//! bucket's EventBridge delivery turned on. Triggers are declared inside functions; the
//! permission each needs is the Lambda family's.

mod aws;
mod cfn;
mod pattern;
mod plan;
#[cfg(test)]
mod tests;
mod validate;

use std::collections::BTreeMap;

use super::bucket::{BUCKET, LiveNotification};
use super::lambda::FUNCTION;
use super::{Ctx, Emit};
use super::{Lab, Resource};
use crate::aws::Run;
use crate::aws::error::AwsError;
use crate::model::{OWNER_TAG, Tags};
use crate::plan::Kind;
use crate::template::Vars;
use crate::yaml::decode::{Decoder, Fields};
use crate::yaml::diag::Sink;
use crate::yaml::shape::Field;

pub use pattern::pattern;

/// A prefix or suffix as S3 wants it in a notification filter: matched against the key
/// as S3 encodes it in events, so a space is `+` and other special characters are
/// percent-encoded (`/` and `-_.~` stay). Written raw, `my photos/` would never fire.
pub fn s3_filter_value(raw: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const KEEP: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    utf8_percent_encode(raw, KEEP)
        .to_string()
        .replace("%20", "+")
}

/// The Id of a direct trigger's entry in its bucket's notification configuration (S3
/// hands it to the function as `configurationId`): one per suffix when there are
/// several. Function names may hold '-' but never '.': `f` trigger 1 suffix 0 and
/// `f-1` trigger 0 never share an Id.
pub fn notification_id(lab: &str, function: &str, trigger: usize, suffix: Option<usize>) -> String {
    match suffix {
        None => format!("labctl-{lab}-{function}-{trigger}"),
        Some(j) => format!("labctl-{lab}-{function}-{trigger}.{j}"),
    }
}

pub const RULE: Kind = Kind("eventbridge rule");
/// A rule's target: apart from the rule, since only the target needs the function
/// and its permission; the rule itself is made at once.
pub const TARGETS: Kind = Kind("eventbridge targets");

pub struct Family;

impl Resource for Family {
    // Declared inside functions.
    const SECTIONS: &'static [Field] = &[];
    // A rule and a notification entry name their bucket and function; a notification
    // names the bucket it is written to precisely (`Action::uses`).
    const USES: &'static [(Kind, Kind)] = &[
        (RULE, BUCKET),
        (RULE, FUNCTION),
        (TARGETS, FUNCTION),
        (super::bucket::NOTIFICATION, FUNCTION),
    ];
    type Spec = ();
    type Live = Live;
    type Work = Work;

    fn decode(_top: &Fields<'_>, _d: &mut Decoder) {}

    fn validate(lab: &Lab, vars: &Vars, s: &mut Sink) {
        validate::triggers(lab, vars, s);
    }

    async fn read(run: &Run, _lab: &Lab) -> anyhow::Result<Live> {
        Ok(Live {
            rules: aws::read_rules(run).await?,
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
            Work::Notification {
                bucket,
                config,
                fresh,
            } => aws::put_notification(run, bucket, config, *fresh).await,
            Work::Rule { name, step } => aws::execute_rule(run, name, step).await,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Live {
    /// EventBridge rules named with the lab's prefix, by name; only those tagged as
    /// the lab's are its own (`LiveRule::owner`).
    pub rules: BTreeMap<String, LiveRule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRule {
    pub name: String,
    pub arn: String,
    pub pattern: String,
    /// Someone may disable a rule by hand: the lab's rules are enabled.
    pub enabled: bool,
    /// (target id, target ARN).
    pub targets: Vec<(String, String)>,
    pub tags: Tags,
}

impl LiveRule {
    pub fn owner(&self) -> Option<&str> {
        self.tags.get(OWNER_TAG).map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    /// A bucket's whole notification configuration.
    Notification {
        bucket: String,
        config: LiveNotification,
        /// The bucket is created in this run (S3 may not know it for a moment).
        fresh: bool,
    },
    Rule {
        name: String,
        step: RuleStep,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleStep {
    Put {
        pattern: String,
        tags: Tags,
        /// The live rule's tags, when it exists: PutRule ignores tags on an update.
        existing: Option<Tags>,
    },
    /// The function as the rule's one target, others removed.
    Targets {
        target: String,
        stale_targets: Vec<String>,
    },
    Delete {
        targets: Vec<String>,
    },
}

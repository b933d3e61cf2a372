//! One lab's cycle against AWS: read what exists (every family at once), and plan
//! towards lab.yaml, or on destroy towards an emptied lab. Carrying the plan out is
//! `apply`.

use anyhow::{Context, Result};

use crate::aws::Run;
use crate::kind::{self, Lab, Plan};
use crate::plan::Options;

/// Reads live state for the declared lab and plans towards it, or, when the run is
/// destroying, towards an emptied lab (still reading the declared names, so everything
/// is found).
pub async fn plan(run: &Run, lab: &Lab, mut opts: Options) -> Result<Plan> {
    let live = match kind::read(run, lab).await {
        Ok(live) => live,
        // A read that failed before STS answered most likely failed on the credentials,
        // which STS explains best, or on a region the caller may not use.
        Err(e) => {
            run.identity()
                .await
                .context("reading the lab's live state")?;
            return Err(e.context("reading the lab's live state"));
        }
    };
    let identity = run
        .identity()
        .await
        .context("reading the lab's live state")?;
    tracing::info!(account = %identity.account_id, arn = %identity.arn, "connected");
    let vars = lab.vars(&identity.account_id);
    opts.learner_lab = identity.is_learner_lab();
    opts.destroying = run.destroying;
    opts.run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default()
        ^ u64::from(std::process::id());
    let (lab, _) = crate::config::expand(lab, &vars);
    let target = if run.destroying { lab.emptied() } else { lab };
    let mut p = kind::diff(&target, &vars, &live, opts);
    p.warnings.extend(run.take_warnings());
    if opts.learner_lab {
        p.warnings.push("AWS Academy Learner Lab session detected: IAM roles cannot be created here; use `role: { existing: LabRole }`".into());
    }
    Ok(p)
}

//! The local half of the Lambda family's read: what its code and layers are now.

use anyhow::{Context, Result};

use super::Artifacts;
use crate::kind::Lab;
use crate::package::{code_sha256, layer_key, zip_dir};

/// Builds what the plan compares: each function's package and CodeSha256, and each
/// layer's content key. Layers are not built here, only keyed.
pub fn build(lab: &Lab) -> Result<Artifacts> {
    let mut art = Artifacts::default();
    for (name, f) in &lab.lambda.functions {
        let zip = zip_dir(&f.code)
            .with_context(|| format!("packaging function {name} from {}", f.code.display()))?;
        if zip.len() > 50 * 1024 * 1024 {
            anyhow::bail!(
                "function {name}: the package is {} MB zipped; Lambda takes 50 MB by direct upload\n  help: move dependencies into a layer",
                zip.len() / (1024 * 1024)
            );
        }
        art.functions
            .insert(name.clone(), (code_sha256(&zip), std::sync::Arc::new(zip)));
    }
    for (name, l) in &lab.lambda.layers {
        art.layers.insert(
            name.clone(),
            layer_key(&l.source, &l.runtimes, l.architecture)?,
        );
    }
    Ok(art)
}

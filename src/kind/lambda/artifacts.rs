//! The local half of the Lambda family's read: what its code and layers are now, and
//! how big, so that Lambda's upload limits are plan errors instead of a 413 part-way.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::{Artifacts, FunctionPackage, LayerArtifact, LayerSource, LiveLayerVersion};
use crate::kind::Lab;
use crate::names::layer_description;
use crate::package::{code_sha256, inspect_layer_bytes, layer_key, layer_zip_cached, zip_dir};

/// Each function's package, its CodeSha256 and unzipped size, and each layer's content
/// key. Layers are keyed, not built: their sizes come from the zip (`zip:`) or the
/// build cache.
pub fn build(lab: &Lab) -> Result<Artifacts> {
    let mut art = Artifacts::default();
    for (name, f) in &lab.lambda.functions {
        let zip = zip_dir(&f.code)
            .with_context(|| format!("packaging function {name} from {}", f.code.display()))?;
        let unzipped = crate::package::tree_size(&f.code)?;
        art.functions.insert(
            name.clone(),
            FunctionPackage {
                sha256: code_sha256(&zip),
                zip: Arc::new(zip),
                unzipped,
            },
        );
    }
    for (name, l) in &lab.lambda.layers {
        let key = layer_key(&l.source, &l.runtimes, l.architecture)?;
        let bytes = match &l.source {
            LayerSource::Zip(p) => std::fs::read(p).ok(),
            LayerSource::Requirements(_) => layer_zip_cached(&key),
        };
        art.layers
            .insert(name.clone(), sized(key, bytes.as_deref()));
    }
    Ok(art)
}

fn sized(key: String, zip: Option<&[u8]>) -> LayerArtifact {
    LayerArtifact {
        key,
        zipped: zip.map(|z| z.len() as u64),
        unzipped: zip
            .and_then(|z| inspect_layer_bytes(z).ok())
            .map(|i| i.unzipped_size),
        build_error: None,
    }
}

/// Builds the `requirements:` layers the plan will publish (no version of the lab's
/// carries their content key) and are not in the build cache yet, so their sizes are
/// known before any write. A failed build is the layer's plan error.
pub fn build_new_layers(
    lab: &Lab,
    art: &mut Artifacts,
    live: &BTreeMap<String, Vec<LiveLayerVersion>>,
) {
    for (name, l) in &lab.lambda.layers {
        let Some(a) = art.layers.get_mut(name) else {
            continue;
        };
        let published = live.get(&lab.physical(name)).is_some_and(|v| {
            v.iter()
                .any(|x| x.description == layer_description(&lab.name, &a.key))
        });
        if published || a.zipped.is_some() || !matches!(l.source, LayerSource::Requirements(_)) {
            continue;
        }
        match crate::package::layer_zip(&l.source, &l.runtimes, l.architecture) {
            Ok(zip) => *a = sized(a.key.clone(), Some(&zip)),
            Err(e) => a.build_error = Some(format!("{e:#}")),
        }
    }
}

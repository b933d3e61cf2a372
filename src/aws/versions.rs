//! Deleting object versions: every version and delete marker under a prefix whose key
//! a filter keeps, a page (at most 1000) at a time. A bucket emptied before it goes,
//! and verify's cleanup of exactly a run's keys, both use it.

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use super::error::{AwsError, Class, Ctx, build_err};

/// Returns how many versions and markers went. A bucket that is gone has none.
pub async fn delete(
    s3: &Client,
    bucket: &str,
    prefix: Option<&str>,
    keep: impl Fn(&str) -> bool,
) -> Result<usize, AwsError> {
    let mut removed = 0;
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = match s3
            .list_object_versions()
            .bucket(bucket)
            .set_prefix(prefix.map(str::to_owned))
            .max_keys(1000)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .ctx("ListObjectVersions")
        {
            Err(e) if e.code == "NoSuchBucket" => return Ok(removed),
            other => other?,
        };
        let all = page
            .versions()
            .iter()
            .map(|v| (v.key(), v.version_id()))
            .chain(
                page.delete_markers()
                    .iter()
                    .map(|m| (m.key(), m.version_id())),
            );
        let mut ids = Vec::new();
        for (key, version) in all {
            let key = key.unwrap_or_default();
            if keep(key) {
                ids.push(
                    ObjectIdentifier::builder()
                        .key(key)
                        .set_version_id(version.map(str::to_owned))
                        .build()
                        .map_err(build_err)?,
                );
            }
        }
        if !ids.is_empty() {
            let n = ids.len();
            let del = Delete::builder()
                .set_objects(Some(ids))
                .quiet(true)
                .build()
                .map_err(build_err)?;
            let out = s3
                .delete_objects()
                .bucket(bucket)
                .delete(del)
                .send()
                .await
                .ctx("DeleteObjects")?;
            if let Some(e) = out.errors().first() {
                return Err(AwsError {
                    op: "DeleteObjects",
                    code: e.code().unwrap_or("Error").to_owned(),
                    message: format!(
                        "{}: {}",
                        e.key().unwrap_or_default(),
                        e.message().unwrap_or_default()
                    ),
                    status: None,
                    class: Class::Fatal,
                });
            }
            removed += n;
        }
        if !page.is_truncated().unwrap_or(false) {
            return Ok(removed);
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
}

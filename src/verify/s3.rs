//! The S3 calls of `verify`: probes in, objects read back, and the probes' traces
//! removed, every version and delete marker of exactly the run's keys.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use crate::aws::error::{AwsError, Class, Ctx, build_err};

/// An object's version as S3 reports it in events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    pub size: u64,
    /// Without the quotes S3 puts around it in headers.
    pub etag: String,
    pub version: Option<String>,
}

fn unquote(e: &str) -> String {
    e.trim_matches('"').to_owned()
}

pub async fn put(
    s3: &Client,
    bucket: &str,
    key: &str,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<Meta, AwsError> {
    let o = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .set_content_type(content_type.map(str::to_owned))
        .send()
        .await
        .ctx("PutObject")?;
    Ok(Meta {
        size: body.len() as u64,
        etag: unquote(o.e_tag().unwrap_or_default()),
        version: o.version_id().map(str::to_owned),
    })
}

/// The object's current version, or `None` when there is none.
pub async fn head(s3: &Client, bucket: &str, key: &str) -> Result<Option<Meta>, AwsError> {
    match s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .ctx("HeadObject")
    {
        Ok(o) => Ok(Some(Meta {
            size: o.content_length().unwrap_or(0).max(0) as u64,
            etag: unquote(o.e_tag().unwrap_or_default()),
            version: o.version_id().map(str::to_owned),
        })),
        Err(e) if e.class == Class::NotFound || e.status == Some(404) => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn get(s3: &Client, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, AwsError> {
    match s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .ctx("GetObject")
    {
        Ok(o) => {
            let data = o.body.collect().await.map_err(|e| AwsError {
                op: "GetObject",
                code: "ReadError".into(),
                message: e.to_string(),
                status: None,
                class: Class::Transient,
            })?;
            Ok(Some(data.into_bytes().to_vec()))
        }
        Err(e) if e.class == Class::NotFound || e.code == "NoSuchKey" || e.status == Some(404) => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Up to `limit` keys under `prefix`, with their sizes: what is there instead.
pub async fn list(
    s3: &Client,
    bucket: &str,
    prefix: &str,
    limit: i32,
) -> Result<Vec<(String, u64)>, AwsError> {
    let o = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .max_keys(limit)
        .send()
        .await
        .ctx("ListObjectsV2")?;
    Ok(o.contents()
        .iter()
        .map(|c| {
            (
                c.key().unwrap_or_default().to_owned(),
                c.size().unwrap_or(0).max(0) as u64,
            )
        })
        .collect())
}

/// Deletes every version and delete marker under `prefix` whose key holds `run`;
/// returns how many went. Nothing else is touched.
pub async fn purge(s3: &Client, bucket: &str, prefix: &str, run: &str) -> Result<usize, AwsError> {
    let mut removed = 0;
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = match s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .ctx("ListObjectVersions")
        {
            Err(e) if e.code == "NoSuchBucket" => return Ok(removed),
            other => other?,
        };
        let mut ids = Vec::new();
        let versions = page
            .versions()
            .iter()
            .map(|v| (v.key(), v.version_id()))
            .chain(
                page.delete_markers()
                    .iter()
                    .map(|m| (m.key(), m.version_id())),
            );
        for (key, version) in versions {
            let key = key.unwrap_or_default();
            if !key.contains(run) {
                continue;
            }
            ids.push(
                ObjectIdentifier::builder()
                    .key(key)
                    .set_version_id(version.map(str::to_owned))
                    .build()
                    .map_err(build_err)?,
            );
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

//! The S3 calls of `verify`: probes in, objects read back, and the probes' traces
//! removed, every version and delete marker of exactly the run's keys.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use crate::aws::error::{AwsError, Class, Ctx};

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
    crate::aws::versions::delete(s3, bucket, Some(prefix), |k| k.contains(run)).await
}

//! Deciding one expectation against what S3 holds now, and saying why it fails in
//! words a student can act on.

use aws_sdk_s3::Client;

use super::jpeg;
use super::s3;
use crate::aws::error::AwsError;
use crate::check::{Expect, ImageFormat};

/// What was put, to compare with.
#[derive(Debug, Clone)]
pub struct PutInfo {
    pub bytes: std::sync::Arc<Vec<u8>>,
    pub image: Option<jpeg::Info>,
}

/// One expectation, decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub bucket: String,
    pub key: String,
    /// `true` for `expect`, `false` for `expect_absent`.
    pub wanted: bool,
    pub ok: bool,
    pub size: Option<u64>,
    pub image: Option<jpeg::Info>,
    pub why: Option<String>,
}

fn kb(n: u64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MB", n as f64 / (1024.0 * 1024.0))
    } else if n >= 1024 {
        format!("{:.0} KB", n as f64 / 1024.0)
    } else {
        format!("{n} bytes")
    }
}

/// A size as people read it: "1.2 MB", "310 KB", "5 bytes".
pub fn size(n: u64) -> String {
    kb(n)
}

pub async fn present(
    c: &Client,
    bucket: &str,
    key: &str,
    e: &Expect,
    put: &PutInfo,
) -> Result<Found, AwsError> {
    let mut f = Found {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        wanted: true,
        ok: false,
        size: None,
        image: None,
        why: None,
    };
    let Some(data) = s3::get(c, bucket, key).await? else {
        f.why = Some(format!("nothing at s3://{bucket}/{key}"));
        return Ok(f);
    };
    f.size = Some(data.len() as u64);
    let mut wrong = Vec::new();
    if e.same_as_put && data != *put.bytes {
        wrong.push(format!(
            "its {} differ from the {} put",
            kb(data.len() as u64),
            kb(put.bytes.len() as u64)
        ));
    }
    if let Some(b) = &e.body
        && data != b.as_bytes()
    {
        let shown: String = String::from_utf8_lossy(&data).chars().take(60).collect();
        wrong.push(format!("it holds {shown:?}, not {b:?}"));
    }
    let text = String::from_utf8_lossy(&data);
    for c in &e.contains {
        if !text.contains(c.as_str()) {
            let shown: String = text.chars().take(80).collect();
            wrong.push(format!("it does not contain {c:?} (it begins {shown:?})"));
        }
    }
    if let Some(ImageFormat::Jpeg) = e.image {
        match jpeg::inspect(&data) {
            Ok(i) => {
                if e.same_dimensions
                    && let Some(p) = &put.image
                    && (p.width, p.height) != (i.width, i.height)
                {
                    wrong.push(format!(
                        "it is {}x{}, the put was {}x{}",
                        i.width, i.height, p.width, p.height
                    ));
                }
                f.image = Some(i);
            }
            Err(why) => wrong.push(format!("it is {why}")),
        }
    }
    if e.smaller_than_put && data.len() >= put.bytes.len() {
        wrong.push(format!(
            "it is {}, not smaller than the {} put",
            kb(data.len() as u64),
            kb(put.bytes.len() as u64)
        ));
    }
    if wrong.is_empty() {
        f.ok = true;
    } else {
        f.why = Some(format!(
            "s3://{bucket}/{key} is there, but {}",
            wrong.join("; ")
        ));
    }
    Ok(f)
}

pub async fn absent(c: &Client, bucket: &str, key: &str) -> Result<Found, AwsError> {
    let there = s3::head(c, bucket, key).await?;
    Ok(Found {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        wanted: false,
        ok: there.is_none(),
        size: there.as_ref().map(|m| m.size),
        image: None,
        why: there.map(|m| {
            format!(
                "s3://{bucket}/{key} exists ({}), and should not",
                kb(m.size)
            )
        }),
    })
}

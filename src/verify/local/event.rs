//! Events as AWS delivers them to a function, field by field: S3's notification record
//! (the key form-URL-encoded, a space as `+`) and S3's EventBridge event (the key as it
//! is, `etag` in lower case, a `reason`), each with fresh ids.

use std::time::SystemTime;

use serde_json::{Value, json};

use crate::check::route::{Change, eventbridge_core};
use crate::kind::trigger::s3_filter_value;
use crate::verify::ids;
use crate::verify::s3::Meta;

/// One change to an object, with what S3 knows of the version it made.
#[derive(Debug, Clone)]
pub struct Occurrence {
    pub change: Change,
    pub meta: Meta,
    pub time: SystemTime,
}

pub struct Origin<'a> {
    pub region: &'a str,
    pub account: &'a str,
}

/// A direct trigger's event: one record, as S3 sends them.
pub fn s3_notification(o: &Occurrence, at: &Origin<'_>, config_id: &str) -> Value {
    let created = o.change.event.starts_with("ObjectCreated");
    let mut object = json!({
        "key": s3_filter_value(&o.change.key),
        "sequencer": ids::sequencer(),
    });
    if created {
        object["size"] = json!(o.meta.size);
        object["eTag"] = json!(o.meta.etag);
    }
    if let Some(v) = &o.meta.version {
        object["versionId"] = json!(v);
    }
    json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": at.region,
            "eventTime": ids::iso8601(o.time, true),
            "eventName": o.change.event,
            "userIdentity": { "principalId": format!("AWS:AROA{}:labctl-verify", ids::upper_hex(16)) },
            "requestParameters": { "sourceIPAddress": "127.0.0.1" },
            "responseElements": {
                "x-amz-request-id": ids::upper_hex(16),
                "x-amz-id-2": ids::hex(64),
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": config_id,
                "bucket": {
                    "name": o.change.bucket,
                    "ownerIdentity": { "principalId": ids::upper_hex(14) },
                    "arn": format!("arn:aws:s3:::{}", o.change.bucket),
                },
                "object": object,
            }
        }]
    })
}

/// An EventBridge trigger's event: the fields a rule matches on, and the rest.
pub fn eventbridge(o: &Occurrence, at: &Origin<'_>) -> Value {
    let mut e = eventbridge_core(&o.change);
    e["id"] = json!(ids::uuid());
    e["account"] = json!(at.account);
    e["time"] = json!(ids::iso8601(o.time, false));
    e["region"] = json!(at.region);
    let d = &mut e["detail"];
    if o.change.event.starts_with("ObjectCreated") {
        d["object"]["size"] = json!(o.meta.size);
        d["object"]["etag"] = json!(o.meta.etag);
    }
    if let Some(v) = &o.meta.version {
        d["object"]["version-id"] = json!(v);
    }
    d["object"]["sequencer"] = json!(ids::sequencer());
    d["request-id"] = json!(ids::upper_hex(16));
    d["requester"] = json!(at.account);
    d["source-ip-address"] = json!("127.0.0.1");
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn occurrence(key: &str) -> Occurrence {
        Occurrence {
            change: Change::created("b", key, "Put"),
            meta: Meta {
                size: 5,
                etag: "abc".into(),
                version: None,
            },
            time: SystemTime::UNIX_EPOCH,
        }
    }

    const AT: Origin<'static> = Origin {
        region: "us-east-1",
        account: "123456789012",
    };

    #[test]
    fn s3_records_encode_the_key_and_carry_unique_ids() {
        let a = s3_notification(&occurrence("photos/my cat+1.jpg"), &AT, "id-0");
        let r = &a["Records"][0];
        assert_eq!(r["s3"]["object"]["key"], "photos/my+cat%2B1.jpg");
        assert_eq!(r["eventName"], "ObjectCreated:Put");
        assert_eq!(r["s3"]["configurationId"], "id-0");
        assert_eq!(r["s3"]["object"]["eTag"], "abc");
        assert!(
            r["s3"]["object"].get("versionId").is_none(),
            "only versioned buckets"
        );
        let b = s3_notification(&occurrence("photos/my cat+1.jpg"), &AT, "id-0");
        assert_ne!(
            r["responseElements"]["x-amz-request-id"],
            b["Records"][0]["responseElements"]["x-amz-request-id"]
        );
    }

    #[test]
    fn eventbridge_events_keep_the_key_and_name_the_reason() {
        let mut o = occurrence("photos/my cat.jpg");
        o.meta.version = Some("v1".into());
        let e = eventbridge(&o, &AT);
        assert_eq!(e["detail-type"], "Object Created");
        assert_eq!(e["detail"]["object"]["key"], "photos/my cat.jpg");
        assert_eq!(e["detail"]["object"]["etag"], "abc");
        assert_eq!(e["detail"]["object"]["version-id"], "v1");
        assert_eq!(e["detail"]["reason"], "PutObject");
        assert_eq!(e["time"], "1970-01-01T00:00:00Z");
        assert_ne!(e["id"], eventbridge(&o, &AT)["id"]);
    }
}

"""Build S3 event documents as AWS delivers them to Lambda.

Two shapes:
- direct S3 bucket notification: ``{"Records": [...]}``, object keys
  URL-encoded the way S3 does it (space -> ``+``, ``é`` -> ``%C3%A9``,
  ``+`` -> ``%2B``; ``/`` left as is);
- EventBridge "Object Created" event: one object per event, key as is.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

REGION = "us-east-1"
SOURCE = "lab-uploads"  # bucket the events come from
DEST = "lab-backup"  # DEST_BUCKET of the functions under test
ACCOUNT = "123456789012"
PRINCIPAL = "AWS:AIDAJDPLRKLG7UEXAMPLE"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _sequencer() -> str:
    return uuid.uuid4().hex[:18].upper()


def s3_encode_key(key: str) -> str:
    """Encode a key like S3 does in its notification records."""
    return quote_plus(key, safe="/")


def s3_record(
    bucket: str,
    key: str,
    size: int,
    etag: str = "d41d8cd98f00b204e9800998ecf8427e",
    event_name: str = "ObjectCreated:Put",
    region: str = REGION,
) -> dict[str, Any]:
    """One record of a direct S3 event notification (event version 2.1)."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": _now(),
        "eventName": event_name,
        "userIdentity": {"principalId": PRINCIPAL},
        "requestParameters": {"sourceIPAddress": "203.0.113.10"},
        "responseElements": {
            "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
            "x-amz-id-2": "EXAMPLE123/5678abcdefghijklambdaisawesome/mnopqrstuvwxyzABCDEFGH",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "labctl-backup",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": {
                "key": s3_encode_key(key),
                "size": size,
                "eTag": etag.strip('"'),
                "sequencer": _sequencer(),
            },
        },
    }


def s3_event(*records: dict[str, Any]) -> dict[str, Any]:
    """A direct S3 notification delivering ``records``."""
    return {"Records": list(records)}


def s3_test_event(bucket: str) -> dict[str, Any]:
    """What S3 sends once when a notification configuration is saved."""
    return {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": _now(),
        "Bucket": bucket,
        "RequestId": uuid.uuid4().hex[:16].upper(),
        "HostId": "EXAMPLEhostid",
    }


def eventbridge_event(
    bucket: str,
    key: str,
    size: int,
    etag: str = "d41d8cd98f00b204e9800998ecf8427e",
    reason: str = "PutObject",
    detail_type: str = "Object Created",
    region: str = REGION,
) -> dict[str, Any]:
    """An S3 event as EventBridge delivers it (key not URL-encoded)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": _now()[:19] + "Z",
        "region": region,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {
                "key": key,
                "size": size,
                "etag": etag.strip('"'),
                "sequencer": _sequencer(),
            },
            "request-id": uuid.uuid4().hex[:16].upper(),
            "requester": ACCOUNT,
            "source-ip-address": "203.0.113.10",
            "reason": reason,
        },
    }


def record_for(s3, bucket: str, key: str, **kwargs: Any) -> dict[str, Any]:
    """A direct S3 record for an object that exists (real size and ETag)."""
    head = s3.head_object(Bucket=bucket, Key=key)
    return s3_record(bucket, key, head["ContentLength"], head["ETag"], **kwargs)


def eventbridge_for(s3, bucket: str, key: str, **kwargs: Any) -> dict[str, Any]:
    """An EventBridge event for an object that exists (real size and ETag)."""
    head = s3.head_object(Bucket=bucket, Key=key)
    return eventbridge_event(bucket, key, head["ContentLength"], head["ETag"], **kwargs)


def event_for(shape: str, s3, bucket: str, key: str) -> dict[str, Any]:
    """The event announcing one existing object, in ``shape`` "s3" or "eventbridge"."""
    if shape == "s3":
        return s3_event(record_for(s3, bucket, key))
    if shape == "eventbridge":
        return eventbridge_for(s3, bucket, key)
    raise ValueError(f"unknown event shape {shape!r}")

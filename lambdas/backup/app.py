"""Backup Lambda: copy every object created in a bucket into ``DEST_BUCKET``.

Triggered by S3 (direct bucket notification) or by EventBridge ("Object
Created" events of S3). Each new object is copied server-side to the same key
in ``DEST_BUCKET``, keeping its content type and user metadata. Objects of
5 GiB and more are copied with a multipart copy (boto3's managed ``copy``).

Environment:
    DEST_BUCKET  bucket that receives the copies (required, must differ from
                 the source bucket: a copy into the source bucket would
                 trigger this function again, forever).

Failures: every record is attempted; if any failed, one ``BackupError``
listing all of them is raised at the end, so Lambda retries the event and the
function's error metrics count it. Copies are idempotent, so retrying the
records that already succeeded is harmless.

Runtime dependencies: the Lambda runtime's boto3 only.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import boto3
from boto3.s3.transfer import TransferConfig

logger = logging.getLogger()
logger.setLevel(logging.INFO)

GIB = 1024**3
MIB = 1024**2

# CopyObject copies up to 5 GiB in one atomic request; only larger objects
# need a multipart copy. (boto3's default threshold, 8 MiB, would split every
# photo-sized object into parts for no gain.)
TRANSFER_CONFIG = TransferConfig(
    multipart_threshold=5 * GIB,
    multipart_chunksize=512 * MIB,
    max_concurrency=10,
)

# System metadata that a copy must keep, besides the user metadata. With
# MetadataDirective=REPLACE we pass them explicitly so both copy paths (single
# CopyObject and multipart, whose CreateMultipartUpload has no "COPY"
# directive) give the same result on every boto3/s3transfer version.
PRESERVED_FIELDS = (
    "ContentType",
    "ContentEncoding",
    "ContentDisposition",
    "ContentLanguage",
    "CacheControl",
    "Expires",
    "Metadata",
)


class BackupError(RuntimeError):
    """One or more records of the event could not be copied."""

    def __init__(self, failures: list[str]):
        self.failures = failures
        super().__init__(f"{len(failures)} object(s) not backed up: " + "; ".join(failures))


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    size: int | None


@functools.cache
def s3_client():
    """The S3 client, created on first use and reused across invocations."""
    return boto3.client("s3")


def created_records(event: dict[str, Any]) -> list[tuple[dict[str, Any], bool]]:
    """The "object created" payloads of an event, as ``(body, key_is_url_encoded)``.

    ``body`` has ``bucket.name`` and ``object.key`` (and usually ``object.size``).
    Direct S3 notifications URL-encode the key; EventBridge does not. Anything
    else (s3:TestEvent, removals, other sources) yields nothing.
    """
    if isinstance(event.get("Records"), list):
        found = []
        for record in event["Records"]:
            if record.get("eventSource") != "aws:s3" or "s3" not in record:
                logger.info("ignoring non-S3 record: %s", record.get("eventSource"))
                continue
            name = str(record.get("eventName", "ObjectCreated:"))
            if not name.removeprefix("s3:").startswith("ObjectCreated:"):
                logger.info("ignoring S3 event %s", name)
                continue
            found.append((record["s3"], True))
        return found
    if event.get("source") == "aws.s3" and isinstance(event.get("detail"), dict):
        if event.get("detail-type") != "Object Created":
            logger.info("ignoring EventBridge event %r", event.get("detail-type"))
            return []
        return [(event["detail"], False)]
    logger.info("ignoring event without S3 records: %s", event.get("Event", "unknown"))
    return []


def to_object(body: dict[str, Any], url_encoded: bool) -> S3Object:
    key = body["object"]["key"]
    if url_encoded:
        key = unquote_plus(key)
    size = body["object"].get("size")
    return S3Object(bucket=body["bucket"]["name"], key=key, size=size)


def copy_args(head: dict[str, Any]) -> dict[str, Any]:
    """ExtraArgs for ``s3.copy`` that keep the source's metadata, from its HEAD."""
    args = {field: head[field] for field in PRESERVED_FIELDS if field in head}
    args["MetadataDirective"] = "REPLACE"
    # Copy exactly the version whose metadata we read.
    if "ETag" in head:
        args["CopySourceIfMatch"] = head["ETag"]
    return args


def backup_object(s3, obj: S3Object, dest_bucket: str) -> None:
    head = s3.head_object(Bucket=obj.bucket, Key=obj.key)
    s3.copy(
        CopySource={"Bucket": obj.bucket, "Key": obj.key},
        Bucket=dest_bucket,
        Key=obj.key,
        ExtraArgs=copy_args(head),
        Config=TRANSFER_CONFIG,
    )


def handler(event: dict[str, Any], context: Any = None) -> dict[str, int]:
    dest_bucket = os.environ.get("DEST_BUCKET", "").strip()
    if not dest_bucket:
        raise RuntimeError("environment variable DEST_BUCKET is not set")

    copied = skipped = 0
    failures: list[str] = []
    for index, (body, url_encoded) in enumerate(created_records(event)):
        try:
            obj = to_object(body, url_encoded)
        except (KeyError, TypeError, AttributeError) as exc:
            logger.error("record %d is malformed: %r", index, exc)
            failures.append(f"record {index}: malformed ({exc!r})")
            continue
        if obj.bucket == dest_bucket:
            logger.error(
                "refusing to copy s3://%s/%s into its own bucket "
                "(DEST_BUCKET is the source bucket; that would loop)",
                obj.bucket,
                obj.key,
            )
            skipped += 1
            continue
        try:
            backup_object(s3_client(), obj, dest_bucket)
        except Exception as exc:
            logger.exception("failed to copy s3://%s/%s", obj.bucket, obj.key)
            failures.append(f"s3://{obj.bucket}/{obj.key}: {exc}")
            continue
        logger.info(
            "copied s3://%s/%s to s3://%s/%s (%s bytes)",
            obj.bucket,
            obj.key,
            dest_bucket,
            obj.key,
            obj.size,
        )
        copied += 1

    if failures:
        raise BackupError(failures)
    return {"copied": copied, "skipped": skipped}

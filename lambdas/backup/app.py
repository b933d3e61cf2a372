"""Backup Lambda: copy every object created in a bucket into ``DEST_BUCKET``.

Triggered by S3 (direct bucket notification) or by EventBridge ("Object
Created" events of S3). Each new object is copied server-side to the same key
in ``DEST_BUCKET``, keeping its content type and user metadata. Objects of
5 GiB and more are copied with a multipart copy (boto3's managed ``copy``).

After each copy, a manifest of it is written to ``DEST_BUCKET`` at
``MANIFEST_PREFIX + key + ".json"`` (``manifest/photos/a.jpg.json``; a folder
``album/`` gives ``manifest/album/.json``), so that Athena can query what was
backed up through a Glue table over the prefix with the JSON SerDe. Its body
is one JSON object on one line, UTF-8, ending with a newline
(ContentType ``application/json``); wrapped here::

    {"key": "photos/a.jpg", "size": 5120, "etag": "9b2cf535f27731c974343645a3985328",
     "backed_up_at": "2024-07-01 12:34:56.789"}

``key`` is the object's key (decoded), ``size`` its length in bytes and
``etag`` its ETag without quotes, both from the source's HeadObject (the copy
of a 5 GiB+ object has a multipart ETag of its own), and ``backed_up_at`` the
UTC time the copy finished, to the millisecond, in the form Athena (Hive)
reads into a ``timestamp`` column. An object whose own key is under
``MANIFEST_PREFIX`` is copied but gets no manifest (a warning is logged: the
copy sits among the manifests).

Environment:
    DEST_BUCKET      bucket that receives the copies (required, must differ
                     from the source bucket: a copy into the source bucket
                     would trigger this function again, forever).
    MANIFEST_PREFIX  key prefix of the manifests in DEST_BUCKET (default
                     ``manifest/``); set but empty, no manifests are written.

Failures: every record is attempted; if any failed, one ``BackupError``
listing all of them is raised at the end, so Lambda retries the event and the
function's error metrics count it. A record whose copy succeeded but whose
manifest could not be written counts as failed (S3 keys are at most 1024
bytes, so a key within ``len(MANIFEST_PREFIX) + 5`` bytes of that limit fails
this way on every attempt). Copies and manifests are
idempotent, so retrying the records that already succeeded is harmless (a
retry rewrites their manifest with a later ``backed_up_at``).

Runtime dependencies: the Lambda runtime's boto3 only.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
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


DEFAULT_MANIFEST_PREFIX = "manifest/"


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


def backup_object(s3, obj: S3Object, dest_bucket: str) -> dict[str, Any]:
    """Copy ``obj`` to the same key in ``dest_bucket``; returns the source's HEAD."""
    head = s3.head_object(Bucket=obj.bucket, Key=obj.key)
    s3.copy(
        CopySource={"Bucket": obj.bucket, "Key": obj.key},
        Bucket=dest_bucket,
        Key=obj.key,
        ExtraArgs=copy_args(head),
        Config=TRANSFER_CONFIG,
    )
    return head


def athena_timestamp(moment: datetime) -> str:
    """``moment`` (UTC) as ``YYYY-MM-DD HH:MM:SS.mmm``, what Hive/Athena timestamps read."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def manifest_body(key: str, head: dict[str, Any], backed_up_at: datetime) -> bytes:
    """The manifest of the copy of ``key``: one line of JSON, newline-terminated."""
    record = {
        "key": key,
        "size": head["ContentLength"],
        "etag": head["ETag"].strip('"'),
        "backed_up_at": athena_timestamp(backed_up_at),
    }
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


def write_manifest(
    s3, dest_bucket: str, prefix: str, key: str, head: dict[str, Any], backed_up_at: datetime
) -> None:
    """Write the manifest of the copy of ``key``, unless none is due."""
    if not prefix:
        return
    if key.startswith(prefix):
        logger.warning(
            "no manifest for s3://%s/%s: the object itself is under MANIFEST_PREFIX %r",
            dest_bucket,
            key,
            prefix,
        )
        return
    s3.put_object(
        Bucket=dest_bucket,
        Key=prefix + key + ".json",
        Body=manifest_body(key, head, backed_up_at),
        ContentType="application/json",
    )


def handler(event: dict[str, Any], context: Any = None) -> dict[str, int]:
    dest_bucket = os.environ.get("DEST_BUCKET", "").strip()
    if not dest_bucket:
        raise RuntimeError("environment variable DEST_BUCKET is not set")
    manifest_prefix = os.environ.get("MANIFEST_PREFIX", DEFAULT_MANIFEST_PREFIX)

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
            head = backup_object(s3_client(), obj, dest_bucket)
        except Exception as exc:
            logger.exception("failed to copy s3://%s/%s", obj.bucket, obj.key)
            failures.append(f"s3://{obj.bucket}/{obj.key}: {exc}")
            continue
        finished = datetime.now(UTC)
        logger.info(
            "copied s3://%s/%s to s3://%s/%s (%s bytes)",
            obj.bucket,
            obj.key,
            dest_bucket,
            obj.key,
            obj.size,
        )
        try:
            write_manifest(s3_client(), dest_bucket, manifest_prefix, obj.key, head, finished)
        except Exception as exc:
            logger.exception("failed to write the manifest of s3://%s/%s", dest_bucket, obj.key)
            failures.append(f"s3://{obj.bucket}/{obj.key}: copied, but no manifest: {exc}")
            continue
        copied += 1

    if failures:
        raise BackupError(failures)
    return {"copied": copied, "skipped": skipped}

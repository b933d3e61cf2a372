"""Compress Lambda: re-encode new JPEG photos smaller into ``DEST_BUCKET``.

Triggered by S3 (direct bucket notification) or by EventBridge ("Object
Created" events of S3). For each new object whose key ends in ``.jpg`` or
``.jpeg`` (any case) and whose bytes really are a JPEG, it writes
``DEST_PREFIX + key`` to ``DEST_BUCKET``: the same picture re-encoded with
Pillow (``JPEG_QUALITY``, optimized Huffman tables, progressive), turned
upright according to its EXIF orientation, with the same pixel size (after
that rotation), without EXIF (camera data, GPS position), XMP or comments,
and with its ICC colour profile kept. Greyscale stays greyscale and CMYK
stays CMYK (JPEG stores both; converting CMYK to RGB without colour
management would shift colours, and the kept ICC profile lets viewers show it
right).

Environment:
    DEST_BUCKET   bucket for the output (required; may be the source bucket)
    DEST_PREFIX   key prefix of the output (default ``compressed/``). Keys
                  under it are skipped when DEST_BUCKET is the source bucket,
                  so the function never reprocesses its own output; an empty
                  prefix into the source bucket is refused.
    JPEG_QUALITY  1..95 (default 80)
    MAX_PIXELS    largest image accepted, in pixels (default 50_000_000)
    MAX_BYTES     largest object accepted, in bytes (default 100_000_000)

Skipped with a log line, not errors (retrying cannot change the outcome):
keys that are not ``.jpg``/``.jpeg``, folders, zero-byte objects, files
named ``.jpg`` that are not JPEG (or are corrupt), images over MAX_PIXELS
(decompression bombs) or MAX_BYTES, and our own output.
Errors (S3 failures, bad configuration): every record is attempted, then one
``CompressError`` listing all failures is raised, so Lambda retries the event
and error metrics count it.

Runtime dependencies: the Lambda runtime's boto3, Pillow from a layer.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import boto3
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger()
logger.setLevel(logging.INFO)

JPEG_SUFFIXES = (".jpg", ".jpeg")
DEFAULT_QUALITY = 80
DEFAULT_PREFIX = "compressed/"
DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_MAX_BYTES = 100_000_000


class CompressError(RuntimeError):
    """One or more records of the event failed."""

    def __init__(self, failures: list[str]):
        self.failures = failures
        super().__init__(f"{len(failures)} object(s) not compressed: " + "; ".join(failures))


class Refused(Exception):
    """The object is not something this function processes (logged, skipped)."""


@dataclass(frozen=True)
class Settings:
    dest_bucket: str
    dest_prefix: str
    quality: int
    max_pixels: int
    max_bytes: int


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    size: int | None


def _int_env(name: str, default: int, low: int, high: int | None = None) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bounds}, got {value}")
    return value


def load_settings() -> Settings:
    dest_bucket = os.environ.get("DEST_BUCKET", "").strip()
    if not dest_bucket:
        raise RuntimeError("environment variable DEST_BUCKET is not set")
    return Settings(
        dest_bucket=dest_bucket,
        dest_prefix=os.environ.get("DEST_PREFIX", DEFAULT_PREFIX),
        quality=_int_env("JPEG_QUALITY", DEFAULT_QUALITY, 1, 95),
        max_pixels=_int_env("MAX_PIXELS", DEFAULT_MAX_PIXELS, 1),
        max_bytes=_int_env("MAX_BYTES", DEFAULT_MAX_BYTES, 1),
    )


@functools.cache
def s3_client():
    """The S3 client, created on first use and reused across invocations."""
    return boto3.client("s3")


def created_records(event: dict[str, Any]) -> list[tuple[dict[str, Any], bool]]:
    """The "object created" payloads of an event, as ``(body, key_is_url_encoded)``.

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
    return S3Object(bucket=body["bucket"]["name"], key=key, size=body["object"].get("size"))


def check_candidate(obj: S3Object, settings: Settings) -> None:
    """Raise ``Refused`` unless the object is one to compress (before download)."""
    if obj.key.endswith("/"):
        raise Refused("folder")
    if not obj.key.lower().endswith(JPEG_SUFFIXES):
        raise Refused("not a .jpg/.jpeg key")
    if obj.size == 0:
        raise Refused("zero-byte object")
    if obj.size is not None and obj.size > settings.max_bytes:
        raise Refused(f"{obj.size} bytes is over MAX_BYTES={settings.max_bytes}")
    if obj.bucket == settings.dest_bucket:
        if not settings.dest_prefix:
            raise Refused("DEST_PREFIX is empty and DEST_BUCKET is the source bucket")
        if obj.key.startswith(settings.dest_prefix):
            raise Refused(f"our own output (under {settings.dest_prefix!r})")


def open_jpeg(data: bytes, max_pixels: int) -> Image.Image:
    """Open and decode ``data`` as a JPEG, refusing non-JPEGs and bombs."""
    if not data:
        raise Refused("zero-byte object")
    # Pillow warns past MAX_IMAGE_PIXELS and errors past twice that; the
    # warning is made an error too, so the limit is MAX_PIXELS itself.
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=["JPEG"])
            if image.width * image.height > max_pixels:
                raise Refused(f"{image.width}x{image.height} is over MAX_PIXELS={max_pixels}")
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Refused(f"decompression bomb: {exc}") from None
    except UnidentifiedImageError:
        raise Refused("content is not a JPEG") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise Refused(f"corrupt JPEG: {exc}") from None
    return image


def compress_jpeg(data: bytes, quality: int, max_pixels: int) -> bytes:
    """Re-encode JPEG bytes: upright, same pixel size, no EXIF, ICC kept."""
    image = open_jpeg(data, max_pixels)
    icc_profile = image.info.get("icc_profile")
    dpi = image.info.get("dpi")
    ImageOps.exif_transpose(image, in_place=True)
    # Drop EXIF, XMP, comments and anything else Pillow would carry over.
    image.info = {}
    if image.mode not in ("L", "RGB", "CMYK"):
        image = image.convert("RGB")
    options: dict[str, Any] = {
        "quality": quality,
        "optimize": True,
        "progressive": True,
    }
    if icc_profile:
        options["icc_profile"] = icc_profile
    if dpi:
        options["dpi"] = dpi
    out = io.BytesIO()
    image.save(out, format="JPEG", **options)
    return out.getvalue()


def compress_object(s3, obj: S3Object, settings: Settings) -> tuple[str, int, int]:
    """Compress one object; returns (destination key, bytes in, bytes out)."""
    check_candidate(obj, settings)
    data = s3.get_object(Bucket=obj.bucket, Key=obj.key)["Body"].read()
    if len(data) > settings.max_bytes:
        raise Refused(f"{len(data)} bytes is over MAX_BYTES={settings.max_bytes}")
    output = compress_jpeg(data, settings.quality, settings.max_pixels)
    dest_key = settings.dest_prefix + obj.key
    s3.put_object(
        Bucket=settings.dest_bucket,
        Key=dest_key,
        Body=output,
        ContentType="image/jpeg",
    )
    return dest_key, len(data), len(output)


def handler(event: dict[str, Any], context: Any = None) -> dict[str, int]:
    settings = load_settings()
    compressed = skipped = 0
    failures: list[str] = []
    for index, (body, url_encoded) in enumerate(created_records(event)):
        try:
            obj = to_object(body, url_encoded)
        except (KeyError, TypeError, AttributeError) as exc:
            logger.error("record %d is malformed: %r", index, exc)
            failures.append(f"record {index}: malformed ({exc!r})")
            continue
        try:
            dest_key, size_in, size_out = compress_object(s3_client(), obj, settings)
        except Refused as why:
            logger.warning("skipping s3://%s/%s: %s", obj.bucket, obj.key, why)
            skipped += 1
            continue
        except Exception as exc:
            logger.exception("failed to compress s3://%s/%s", obj.bucket, obj.key)
            failures.append(f"s3://{obj.bucket}/{obj.key}: {exc}")
            continue
        logger.info(
            "compressed s3://%s/%s to s3://%s/%s: %d -> %d bytes%s",
            obj.bucket,
            obj.key,
            settings.dest_bucket,
            dest_key,
            size_in,
            size_out,
            " (larger: source was already compressed harder)" if size_out > size_in else "",
        )
        compressed += 1

    if failures:
        raise CompressError(failures)
    return {"compressed": compressed, "skipped": skipped}

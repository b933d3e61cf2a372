"""Tests of lambdas/backup (handler ``app.handler``) against moto's S3."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from s3events import (
    DEST,
    SOURCE,
    event_for,
    eventbridge_event,
    eventbridge_for,
    record_for,
    s3_event,
    s3_record,
    s3_test_event,
)

SPECIAL_KEYS = [
    "report 2024 final.pdf",  # spaces -> "+"
    "café/crème brûlée.txt",  # non-ASCII -> %C3%A9...
    "c++ notes/a+b=c.txt",  # "+" -> %2B, "=" -> %3D
    "photos/2024/07/beach day (1).jpg",  # nested folders
    "photos/2024/",  # folder, as the console creates it
]


def put(s3, key: str, body: bytes = b"hello", **kwargs) -> None:
    s3.put_object(Bucket=SOURCE, Key=key, Body=body, **kwargs)


def dest_keys(s3) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=DEST).get("Contents", []))


def with_manifests(*keys: str) -> list[str]:
    """What ``dest_keys`` lists once ``keys`` are backed up: copies and manifests."""
    return sorted([*keys, *(f"manifest/{k}.json" for k in keys)])


def manifest_of(s3, key: str, prefix: str = "manifest/") -> dict:
    """The manifest written for ``key``, checked to be one UTF-8 JSON line, parsed."""
    got = s3.get_object(Bucket=DEST, Key=f"{prefix}{key}.json")
    assert got["ContentType"] == "application/json"
    raw = got["Body"].read()
    assert raw.endswith(b"\n")
    assert raw.count(b"\n") == 1, "one JSON object on one line"
    return json.loads(raw.decode("utf-8"))


@pytest.mark.parametrize("shape", ["s3", "eventbridge"])
@pytest.mark.parametrize("key", SPECIAL_KEYS)
def test_copies_object_under_same_key(s3, backup, key, shape):
    body = b"" if key.endswith("/") else f"content of {key}".encode()
    put(s3, key, body)

    result = backup.handler(event_for(shape, s3, SOURCE, key), None)

    assert result == {"copied": 1, "skipped": 0}
    assert dest_keys(s3) == with_manifests(key)
    assert s3.get_object(Bucket=DEST, Key=key)["Body"].read() == body


def test_direct_event_keys_are_url_encoded_and_decoded(s3, backup):
    keys = [k for k in SPECIAL_KEYS if not k.endswith("/")]
    for key in keys:
        put(s3, key)
    event = s3_event(*(record_for(s3, SOURCE, k) for k in keys))
    encoded = [r["s3"]["object"]["key"] for r in event["Records"]]
    assert encoded[0] == "report+2024+final.pdf"
    assert encoded[1] == "caf%C3%A9/cr%C3%A8me+br%C3%BBl%C3%A9e.txt"
    assert encoded[2] == "c%2B%2B+notes/a%2Bb%3Dc.txt"

    assert backup.handler(event, None) == {"copied": len(keys), "skipped": 0}
    assert dest_keys(s3) == with_manifests(*keys)


def test_eventbridge_key_is_not_decoded(s3, backup):
    # A literal "+" in an EventBridge key is a "+", not a space.
    put(s3, "a+b.txt", b"plus")
    put(s3, "a b.txt", b"space")

    backup.handler(eventbridge_for(s3, SOURCE, "a+b.txt"), None)

    assert dest_keys(s3) == with_manifests("a+b.txt")
    assert s3.get_object(Bucket=DEST, Key="a+b.txt")["Body"].read() == b"plus"


def test_keeps_content_type_and_metadata(s3, backup):
    put(
        s3,
        "docs/readme.html",
        b"<h1>hi</h1>",
        ContentType="text/html; charset=utf-8",
        CacheControl="max-age=60",
        ContentDisposition='attachment; filename="readme.html"',
        Metadata={"owner": "student-7", "course": "cloud-101"},
    )

    backup.handler(s3_event(record_for(s3, SOURCE, "docs/readme.html")), None)

    head = s3.head_object(Bucket=DEST, Key="docs/readme.html")
    assert head["ContentType"] == "text/html; charset=utf-8"
    assert head["CacheControl"] == "max-age=60"
    assert head["ContentDisposition"] == 'attachment; filename="readme.html"'
    assert head["Metadata"] == {"owner": "student-7", "course": "cloud-101"}


def test_multipart_copy_keeps_content_type_and_metadata(s3, backup, monkeypatch):
    # Real threshold is 5 GiB; shrink it so an 11 MiB object takes the
    # multipart path (moto requires parts of at least 5 MiB).
    mib = 1024 * 1024
    monkeypatch.setattr(
        backup,
        "TRANSFER_CONFIG",
        TransferConfig(multipart_threshold=5 * mib, multipart_chunksize=5 * mib),
    )
    body = bytes(range(256)) * (11 * mib // 256)
    put(s3, "big/video.mp4", body, ContentType="video/mp4", Metadata={"lesson": "3"})

    backup.handler(s3_event(record_for(s3, SOURCE, "big/video.mp4")), None)

    head = s3.head_object(Bucket=DEST, Key="big/video.mp4")
    assert head["ETag"].strip('"').endswith("-3"), "expected a 3-part multipart copy"
    assert head["ContentType"] == "video/mp4"
    assert head["Metadata"] == {"lesson": "3"}
    assert s3.get_object(Bucket=DEST, Key="big/video.mp4")["Body"].read() == body
    manifest = manifest_of(s3, "big/video.mp4")
    source_etag = s3.head_object(Bucket=SOURCE, Key="big/video.mp4")["ETag"].strip('"')
    assert manifest["etag"] == source_etag
    assert manifest["size"] == len(body)


def test_copy_args_from_head(backup):
    head = {
        "ContentType": "image/png",
        "Metadata": {"a": "b"},
        "ETag": '"abc"',
        "ContentLength": 3,
        "LastModified": "x",
    }
    assert backup.copy_args(head) == {
        "ContentType": "image/png",
        "Metadata": {"a": "b"},
        "MetadataDirective": "REPLACE",
        "CopySourceIfMatch": '"abc"',
    }


def test_refuses_to_copy_into_its_own_bucket(s3, backup, monkeypatch, caplog):
    monkeypatch.setenv("DEST_BUCKET", SOURCE)
    put(s3, "loop.txt")
    caplog.set_level(logging.INFO)

    result = backup.handler(s3_event(record_for(s3, SOURCE, "loop.txt")), None)

    assert result == {"copied": 0, "skipped": 1}
    assert "refusing to copy s3://lab-uploads/loop.txt into its own bucket" in caplog.text
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=SOURCE)["Contents"]]
    assert keys == ["loop.txt"]


def test_one_bad_record_does_not_hide_the_others(s3, backup, caplog):
    put(s3, "good/one.txt", b"1")
    put(s3, "good/two.txt", b"2")
    event = s3_event(
        record_for(s3, SOURCE, "good/one.txt"),
        s3_record(SOURCE, "gone/deleted meanwhile.txt", 5),
        record_for(s3, SOURCE, "good/two.txt"),
    )

    with pytest.raises(backup.BackupError) as raised:
        backup.handler(event, None)

    assert dest_keys(s3) == with_manifests("good/one.txt", "good/two.txt")
    assert len(raised.value.failures) == 1
    assert "s3://lab-uploads/gone/deleted meanwhile.txt" in str(raised.value)
    assert "good/" not in str(raised.value)
    assert "failed to copy s3://lab-uploads/gone/deleted meanwhile.txt" in caplog.text


def test_all_failures_are_listed(s3, backup):
    event = s3_event(s3_record(SOURCE, "missing-1", 1), s3_record(SOURCE, "missing-2", 1))
    with pytest.raises(backup.BackupError, match="2 object") as raised:
        backup.handler(event, None)
    assert [f.split(":")[1] for f in raised.value.failures] == [
        "//lab-uploads/missing-1",
        "//lab-uploads/missing-2",
    ]


def test_missing_destination_bucket_is_an_error(s3, backup, monkeypatch):
    monkeypatch.setenv("DEST_BUCKET", "no-such-bucket")
    put(s3, "a.txt")
    with pytest.raises(backup.BackupError, match=r"a\.txt"):
        backup.handler(s3_event(record_for(s3, SOURCE, "a.txt")), None)


def test_dest_bucket_must_be_set(s3, backup, monkeypatch):
    monkeypatch.delenv("DEST_BUCKET")
    with pytest.raises(RuntimeError, match="DEST_BUCKET"):
        backup.handler(s3_event(), None)


@pytest.mark.parametrize(
    "event",
    [
        s3_test_event(SOURCE),
        {},
        s3_event(),
        s3_event(s3_record(SOURCE, "x.txt", 1, event_name="ObjectRemoved:Delete")),
        eventbridge_event(SOURCE, "x.txt", 1, detail_type="Object Deleted"),
        {"Records": [{"eventSource": "aws:sqs", "body": "{}"}]},
    ],
    ids=["s3-test-event", "empty", "no-records", "removed", "eb-deleted", "sqs"],
)
def test_ignores_events_without_created_objects(s3, backup, event):
    assert backup.handler(event, None) == {"copied": 0, "skipped": 0}
    assert dest_keys(s3) == []


def test_malformed_record_is_a_failure(s3, backup):
    put(s3, "ok.txt")
    bad = s3_record(SOURCE, "x", 1)
    del bad["s3"]["object"]["key"]
    with pytest.raises(backup.BackupError, match="record 0: malformed"):
        backup.handler(s3_event(bad, record_for(s3, SOURCE, "ok.txt")), None)
    assert dest_keys(s3) == with_manifests("ok.txt")


def test_many_records_in_one_event(s3, backup):
    keys = [f"batch/file-{i:02d}.bin" for i in range(12)]
    for key in keys:
        put(s3, key, key.encode())
    result = backup.handler(s3_event(*(record_for(s3, SOURCE, k) for k in keys)), None)
    assert result == {"copied": 12, "skipped": 0}
    assert dest_keys(s3) == with_manifests(*keys)


# Manifests: one JSON line per backed-up object, under MANIFEST_PREFIX.


def test_writes_manifest_of_each_copy(s3, backup):
    put(s3, "notes/hello.txt", b"hello")
    source_etag = s3.head_object(Bucket=SOURCE, Key="notes/hello.txt")["ETag"]
    assert source_etag.startswith('"')

    result = backup.handler(s3_event(record_for(s3, SOURCE, "notes/hello.txt")), None)

    assert result == {"copied": 1, "skipped": 0}
    assert dest_keys(s3) == ["manifest/notes/hello.txt.json", "notes/hello.txt"]
    manifest = manifest_of(s3, "notes/hello.txt")
    assert list(manifest) == ["key", "size", "etag", "backed_up_at"]
    assert manifest["key"] == "notes/hello.txt"
    assert type(manifest["size"]) is int
    assert manifest["size"] == 5
    assert manifest["etag"] == source_etag.strip('"')
    assert isinstance(manifest["backed_up_at"], str)


def test_manifest_size_and_etag_come_from_head_not_event(s3, backup):
    put(s3, "a.txt", b"12345")
    head = s3.head_object(Bucket=SOURCE, Key="a.txt")
    stale = s3_record(SOURCE, "a.txt", 999, etag="0123456789abcdef0123456789abcdef")

    backup.handler(s3_event(stale), None)

    manifest = manifest_of(s3, "a.txt")
    assert manifest["size"] == 5
    assert manifest["etag"] == head["ETag"].strip('"')


@pytest.mark.parametrize(
    ("key", "encoded"),
    [
        ("report 2024 final.pdf", "report+2024+final.pdf"),
        ("c++ notes/a+b=c.txt", "c%2B%2B+notes/a%2Bb%3Dc.txt"),
        ("café/crème brûlée.txt", "caf%C3%A9/cr%C3%A8me+br%C3%BBl%C3%A9e.txt"),
    ],
)
def test_manifest_of_url_encoded_key_uses_decoded_key(s3, backup, key, encoded):
    put(s3, key)
    event = s3_event(record_for(s3, SOURCE, key))
    assert event["Records"][0]["s3"]["object"]["key"] == encoded

    backup.handler(event, None)

    assert dest_keys(s3) == with_manifests(key)
    assert manifest_of(s3, key)["key"] == key
    raw = s3.get_object(Bucket=DEST, Key=f"manifest/{key}.json")["Body"].read()
    assert f'"key": "{key}"'.encode() in raw, "UTF-8 as is, not \\u escapes"


def test_folder_marker_gets_manifest(s3, backup):
    put(s3, "album/", b"")

    backup.handler(s3_event(record_for(s3, SOURCE, "album/")), None)

    assert dest_keys(s3) == ["album/", "manifest/album/.json"]
    manifest = manifest_of(s3, "album/")
    assert manifest["key"] == "album/"
    assert manifest["size"] == 0


def test_eventbridge_event_gets_manifest(s3, backup):
    put(s3, "a+b.txt", b"plus")

    backup.handler(eventbridge_for(s3, SOURCE, "a+b.txt"), None)

    assert dest_keys(s3) == ["a+b.txt", "manifest/a+b.txt.json"]
    manifest = manifest_of(s3, "a+b.txt")
    assert manifest["key"] == "a+b.txt"
    assert manifest["size"] == 4


def test_empty_manifest_prefix_disables_manifests(s3, backup, monkeypatch):
    monkeypatch.setenv("MANIFEST_PREFIX", "")
    put(s3, "notes/hello.txt")
    put(s3, "album/", b"")
    event = s3_event(record_for(s3, SOURCE, "notes/hello.txt"), record_for(s3, SOURCE, "album/"))

    assert backup.handler(event, None) == {"copied": 2, "skipped": 0}

    assert dest_keys(s3) == ["album/", "notes/hello.txt"]


@pytest.mark.parametrize("prefix", ["inventory/backups/", "m-"])
def test_custom_manifest_prefix(s3, backup, monkeypatch, prefix):
    monkeypatch.setenv("MANIFEST_PREFIX", prefix)
    put(s3, "notes/hello.txt")

    backup.handler(s3_event(record_for(s3, SOURCE, "notes/hello.txt")), None)

    assert dest_keys(s3) == sorted(["notes/hello.txt", f"{prefix}notes/hello.txt.json"])
    assert manifest_of(s3, "notes/hello.txt", prefix)["key"] == "notes/hello.txt"


def test_manifest_timestamp_is_utc_to_the_millisecond(s3, backup):
    put(s3, "a.txt")
    event = s3_event(record_for(s3, SOURCE, "a.txt"))
    before = datetime.now(UTC).replace(tzinfo=None)

    backup.handler(event, None)

    after = datetime.now(UTC).replace(tzinfo=None)
    value = manifest_of(s3, "a.txt")["backed_up_at"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}", value), value
    assert len(value.rpartition(".")[2]) == 3
    when = datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f")
    # Truncated to the millisecond: at most 1 ms before the call started.
    assert before - timedelta(milliseconds=1) < when <= after


@pytest.mark.parametrize(
    ("microsecond", "expected"),
    [
        (0, "2024-07-01 09:05:03.000"),
        (999_999, "2024-07-01 09:05:03.999"),
        (1_500, "2024-07-01 09:05:03.001"),
    ],
)
def test_athena_timestamp_has_three_fractional_digits(backup, microsecond, expected):
    moment = datetime(2024, 7, 1, 9, 5, 3, microsecond, tzinfo=UTC)
    assert backup.athena_timestamp(moment) == expected


def test_failed_manifest_write_fails_the_record(s3, backup, monkeypatch, caplog):
    put(s3, "a.txt", b"a")
    put(s3, "b.txt", b"b")
    event = s3_event(record_for(s3, SOURCE, "a.txt"), record_for(s3, SOURCE, "b.txt"))
    client = backup.s3_client()
    real_put_object = client.put_object

    def put_object(**kwargs):
        if kwargs["Key"] == "manifest/a.txt.json":
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject"
            )
        return real_put_object(**kwargs)

    monkeypatch.setattr(client, "put_object", put_object)

    with pytest.raises(backup.BackupError) as raised:
        backup.handler(event, None)

    assert len(raised.value.failures) == 1
    assert "s3://lab-uploads/a.txt: copied, but no manifest" in raised.value.failures[0]
    assert "AccessDenied" in raised.value.failures[0]
    assert "failed to write the manifest of s3://lab-backup/a.txt" in caplog.text
    # The copy itself happened, and the other record went through in full.
    assert dest_keys(s3) == ["a.txt", "b.txt", "manifest/b.txt.json"]
    assert s3.get_object(Bucket=DEST, Key="a.txt")["Body"].read() == b"a"

    # Lambda's retry of the same event completes it.
    monkeypatch.setattr(client, "put_object", real_put_object)
    assert backup.handler(event, None) == {"copied": 2, "skipped": 0}
    assert dest_keys(s3) == with_manifests("a.txt", "b.txt")


@pytest.mark.parametrize("prefix", ["manifest/", "inventory/"])
def test_no_manifest_of_an_object_under_the_manifest_prefix(
    s3, backup, monkeypatch, caplog, prefix
):
    monkeypatch.setenv("MANIFEST_PREFIX", prefix)
    key = f"{prefix}stray.json"
    put(s3, key, b"{}\n")

    result = backup.handler(s3_event(record_for(s3, SOURCE, key)), None)

    assert result == {"copied": 1, "skipped": 0}
    assert dest_keys(s3) == [key]
    assert f"no manifest for s3://lab-backup/{key}" in caplog.text

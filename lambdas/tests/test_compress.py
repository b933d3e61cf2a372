"""Tests of lambdas/compress (handler ``app.handler``) against moto's S3."""

from __future__ import annotations

import logging

import pytest
from PIL import Image, ImageCms

from images import ORIENTATION, decode, jpeg_bytes, photo, png_bytes, with_declared_size
from s3events import (
    DEST,
    SOURCE,
    event_for,
    eventbridge_event,
    record_for,
    s3_event,
    s3_record,
    s3_test_event,
)

PREFIX = "compressed/"


def put(s3, key: str, body: bytes, bucket: str = SOURCE, **kwargs) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body, **kwargs)


def keys(s3, bucket: str = DEST) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def output(s3, key: str, bucket: str = DEST) -> tuple[bytes, dict]:
    response = s3.get_object(Bucket=bucket, Key=PREFIX + key)
    return response["Body"].read(), response


@pytest.fixture
def small_jpeg() -> bytes:
    return jpeg_bytes(photo(64, 48), quality=95)


@pytest.mark.parametrize("shape", ["s3", "eventbridge"])
def test_large_photo_gets_smaller_and_keeps_its_size(s3, compress, shape):
    original = jpeg_bytes(photo(3000, 2000), quality=95)
    put(s3, "photos/2024/DSC_0042.jpg", original, ContentType="image/jpeg")

    result = compress.handler(event_for(shape, s3, SOURCE, "photos/2024/DSC_0042.jpg"), None)

    assert result == {"compressed": 1, "skipped": 0}
    assert keys(s3) == ["compressed/photos/2024/DSC_0042.jpg"]
    data, response = output(s3, "photos/2024/DSC_0042.jpg")
    assert response["ContentType"] == "image/jpeg"
    assert len(data) < len(original)
    image = decode(data)
    assert image.format == "JPEG"
    assert image.size == (3000, 2000)
    assert image.mode == "RGB"
    assert image.info.get("progressive") == 1


@pytest.mark.parametrize(
    "key",
    [
        "IMG_0001.JPG",
        "holiday/beach.jpeg",
        "scans/PAGE.JPEG",
        "Mixed.JpG",
        "été 2024/plage n°1.jpg",  # URL-encoded in the direct event
        "a+b/c+d.jpg",
    ],
)
def test_jpeg_extensions_any_case_and_special_keys(s3, compress, small_jpeg, key):
    put(s3, key, small_jpeg)

    assert compress.handler(s3_event(record_for(s3, SOURCE, key)), None)["compressed"] == 1

    assert keys(s3) == [PREFIX + key]
    assert decode(output(s3, key)[0]).size == (64, 48)


@pytest.mark.parametrize("key", ["notes.txt", "picture.png", "archive.jpg.zip", "jpg", "x.jpe"])
def test_other_extensions_are_skipped(s3, compress, small_jpeg, key):
    put(s3, key, small_jpeg)
    assert compress.handler(s3_event(record_for(s3, SOURCE, key)), None) == {
        "compressed": 0,
        "skipped": 1,
    }
    assert keys(s3) == []


@pytest.mark.parametrize(
    "body",
    [
        b"this is a shopping list, not a photo\n",
        png_bytes(photo(32, 32)),
        b"\xff\xd8\xff\xe0 truncated right after the SOI marker",
    ],
    ids=["text", "png", "broken-jpeg"],
)
def test_file_named_jpg_that_is_not_a_jpeg_is_skipped(s3, compress, caplog, body):
    put(s3, "fake.jpg", body)
    caplog.set_level(logging.INFO)

    result = compress.handler(s3_event(record_for(s3, SOURCE, "fake.jpg")), None)

    assert result == {"compressed": 0, "skipped": 1}
    assert keys(s3) == []
    assert "skipping s3://lab-uploads/fake.jpg" in caplog.text


def test_folders_and_empty_objects_are_skipped(s3, compress):
    put(s3, "photos/2024/", b"")
    put(s3, "empty.jpg", b"")
    put(s3, "folder.jpg/", b"")
    event = s3_event(
        *(record_for(s3, SOURCE, k) for k in ["photos/2024/", "empty.jpg", "folder.jpg/"])
    )

    assert compress.handler(event, None) == {"compressed": 0, "skipped": 3}
    assert keys(s3) == []


def test_greyscale_stays_greyscale(s3, compress):
    grey = photo(300, 200).convert("L")
    put(s3, "grey.jpg", jpeg_bytes(grey, quality=95))

    compress.handler(s3_event(record_for(s3, SOURCE, "grey.jpg")), None)

    image = decode(output(s3, "grey.jpg")[0])
    assert (image.mode, image.size) == ("L", (300, 200))


def test_cmyk_stays_cmyk_with_its_colours(s3, compress):
    cmyk = Image.new("CMYK", (120, 80), (10, 200, 30, 40))
    cmyk.paste((200, 20, 0, 0), (0, 0, 60, 80))
    put(s3, "print/poster.jpg", jpeg_bytes(cmyk, quality=95))

    compress.handler(s3_event(record_for(s3, SOURCE, "print/poster.jpg")), None)

    image = decode(output(s3, "print/poster.jpg")[0])
    assert (image.mode, image.size) == ("CMYK", (120, 80))
    for xy, expected in [((20, 40), (200, 20, 0, 0)), ((100, 40), (10, 200, 30, 40))]:
        got = image.getpixel(xy)
        assert all(abs(a - b) <= 6 for a, b in zip(got, expected, strict=True)), (got, expected)


def test_exif_orientation_is_applied_then_exif_dropped(s3, compress):
    # 400x300 as stored, orientation 6: "rotate 90° clockwise to display".
    stored = Image.new("RGB", (400, 300), (255, 255, 255))
    stored.paste((255, 0, 0), (0, 0, 100, 100))  # red block at stored top-left
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[0x010F] = "LabCam"  # Make
    exif[0x0110] = "Model X"  # Model
    original = jpeg_bytes(stored, quality=95, exif=exif, comment=b"secret comment")
    assert decode(original).getexif()[ORIENTATION] == 6
    put(s3, "phone/IMG_1234.JPG", original)

    compress.handler(s3_event(record_for(s3, SOURCE, "phone/IMG_1234.JPG")), None)

    image = decode(output(s3, "phone/IMG_1234.JPG")[0])
    assert image.size == (300, 400)
    assert "exif" not in image.info
    assert dict(image.getexif()) == {}
    assert "comment" not in image.info
    # Rotated clockwise: the stored top-left corner is now top-right.
    red, green, blue = image.getpixel((300 - 20, 20))
    assert red > 200
    assert max(green, blue) < 60
    assert image.getpixel((20, 20)) > (200, 200, 200)


def test_icc_profile_is_kept(s3, compress):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    put(s3, "colour.jpg", jpeg_bytes(photo(200, 100), quality=95, icc_profile=icc))

    compress.handler(s3_event(record_for(s3, SOURCE, "colour.jpg")), None)

    assert decode(output(s3, "colour.jpg")[0]).info.get("icc_profile") == icc


@pytest.mark.parametrize(
    ("width", "height"),
    [(60_000, 60_000), (8_000, 7_000)],
    ids=["over-2x-limit-error", "over-limit-warning"],
)
def test_decompression_bomb_is_refused(s3, compress, caplog, width, height):
    # A few hundred bytes claiming 3.6 Gpx / 56 Mpx (default limit: 50 Mpx).
    bomb = with_declared_size(jpeg_bytes(Image.new("L", (16, 16))), width, height)
    assert len(bomb) < 1000
    put(s3, "bomb.jpg", bomb)
    caplog.set_level(logging.INFO)

    result = compress.handler(s3_event(record_for(s3, SOURCE, "bomb.jpg")), None)

    assert result == {"compressed": 0, "skipped": 1}
    assert keys(s3) == []
    assert "decompression bomb" in caplog.text


def test_max_pixels_setting(s3, compress, monkeypatch, small_jpeg, caplog):
    monkeypatch.setenv("MAX_PIXELS", "1000")  # 64x48 = 3072 px
    put(s3, "small.jpg", small_jpeg)

    assert compress.handler(s3_event(record_for(s3, SOURCE, "small.jpg")), None)["skipped"] == 1
    assert keys(s3) == []


def test_max_bytes_setting(s3, compress, monkeypatch, small_jpeg):
    monkeypatch.setenv("MAX_BYTES", str(len(small_jpeg) - 1))
    put(s3, "small.jpg", small_jpeg)

    assert compress.handler(s3_event(record_for(s3, SOURCE, "small.jpg")), None)["skipped"] == 1
    assert keys(s3) == []


def test_own_output_is_not_reprocessed_in_same_bucket(s3, compress, monkeypatch, small_jpeg):
    monkeypatch.setenv("DEST_BUCKET", SOURCE)
    put(s3, "cat.jpg", small_jpeg)

    first = compress.handler(s3_event(record_for(s3, SOURCE, "cat.jpg")), None)
    assert first == {"compressed": 1, "skipped": 0}
    assert keys(s3, SOURCE) == ["cat.jpg", "compressed/cat.jpg"]

    # The output's own "Object Created" event comes back: skipped.
    again = compress.handler(s3_event(record_for(s3, SOURCE, "compressed/cat.jpg")), None)
    assert again == {"compressed": 0, "skipped": 1}
    assert keys(s3, SOURCE) == ["cat.jpg", "compressed/cat.jpg"]


def test_prefix_keys_are_processed_when_destination_is_another_bucket(s3, compress, small_jpeg):
    put(s3, "compressed/x.jpg", small_jpeg)
    compress.handler(s3_event(record_for(s3, SOURCE, "compressed/x.jpg")), None)
    assert keys(s3) == ["compressed/compressed/x.jpg"]


def test_empty_prefix_into_source_bucket_is_refused(s3, compress, monkeypatch, small_jpeg):
    monkeypatch.setenv("DEST_BUCKET", SOURCE)
    monkeypatch.setenv("DEST_PREFIX", "")
    put(s3, "cat.jpg", small_jpeg)

    result = compress.handler(s3_event(record_for(s3, SOURCE, "cat.jpg")), None)

    assert result == {"compressed": 0, "skipped": 1}
    assert s3.get_object(Bucket=SOURCE, Key="cat.jpg")["Body"].read() == small_jpeg


def test_custom_prefix(s3, compress, monkeypatch, small_jpeg):
    monkeypatch.setenv("DEST_PREFIX", "small/")
    put(s3, "cat.jpg", small_jpeg)
    compress.handler(s3_event(record_for(s3, SOURCE, "cat.jpg")), None)
    assert keys(s3) == ["small/cat.jpg"]


def test_one_bad_record_does_not_hide_the_others(s3, compress, small_jpeg, caplog):
    put(s3, "good/1.jpg", small_jpeg)
    put(s3, "good/2.jpg", small_jpeg)
    put(s3, "fake.jpg", b"not a jpeg")
    event = s3_event(
        record_for(s3, SOURCE, "good/1.jpg"),
        s3_record(SOURCE, "gone/deleted meanwhile.jpg", 1234),
        record_for(s3, SOURCE, "fake.jpg"),
        record_for(s3, SOURCE, "good/2.jpg"),
    )

    with pytest.raises(compress.CompressError) as raised:
        compress.handler(event, None)

    assert keys(s3) == ["compressed/good/1.jpg", "compressed/good/2.jpg"]
    assert raised.value.failures[0].startswith("s3://lab-uploads/gone/deleted meanwhile.jpg:")
    assert len(raised.value.failures) == 1
    assert "failed to compress s3://lab-uploads/gone/deleted meanwhile.jpg" in caplog.text


def test_quality_setting(s3, compress, monkeypatch):
    put(s3, "q.jpg", jpeg_bytes(photo(600, 400), quality=95))
    sizes = {}
    for quality in ("90", "30"):
        monkeypatch.setenv("JPEG_QUALITY", quality)
        monkeypatch.setenv("DEST_PREFIX", f"q{quality}/")
        compress.handler(s3_event(record_for(s3, SOURCE, "q.jpg")), None)
        sizes[quality] = s3.head_object(Bucket=DEST, Key=f"q{quality}/q.jpg")["ContentLength"]
    assert sizes["30"] < sizes["90"]


@pytest.mark.parametrize("value", ["0", "96", "abc", "-5"])
def test_invalid_quality_is_a_configuration_error(s3, compress, monkeypatch, value):
    monkeypatch.setenv("JPEG_QUALITY", value)
    with pytest.raises(ValueError, match="JPEG_QUALITY"):
        compress.handler(s3_event(), None)


def test_dest_bucket_must_be_set(s3, compress, monkeypatch):
    monkeypatch.delenv("DEST_BUCKET")
    with pytest.raises(RuntimeError, match="DEST_BUCKET"):
        compress.handler(s3_event(), None)


@pytest.mark.parametrize(
    "event",
    [
        s3_test_event(SOURCE),
        {},
        s3_event(s3_record(SOURCE, "x.jpg", 10, event_name="ObjectRemoved:Delete")),
        eventbridge_event(SOURCE, "x.jpg", 10, detail_type="Object Deleted"),
    ],
    ids=["s3-test-event", "empty", "removed", "eb-deleted"],
)
def test_ignores_events_without_created_objects(s3, compress, event):
    assert compress.handler(event, None) == {"compressed": 0, "skipped": 0}


def test_eventbridge_key_with_plus_and_spaces(s3, compress, small_jpeg):
    key = "my photos/a+b.jpg"
    put(s3, key, small_jpeg)
    compress.handler(event_for("eventbridge", s3, SOURCE, key), None)
    assert keys(s3) == [PREFIX + key]


def test_compress_jpeg_helper_without_s3(compress):
    data = compress.compress_jpeg(jpeg_bytes(photo(100, 50), quality=95), 80, 10_000)
    assert decode(data).size == (100, 50)
    with pytest.raises(compress.Refused):
        compress.compress_jpeg(b"nope", 80, 10_000)

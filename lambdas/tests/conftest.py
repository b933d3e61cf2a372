"""Fixtures for the Lambda tests: fake AWS, moto S3, the two handlers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import boto3
import pytest
from moto import mock_aws
from PIL import Image

from s3events import DEST, REGION, SOURCE

LAMBDAS = Path(__file__).resolve().parent.parent


def load_lambda(folder: str) -> ModuleType:
    """Import ``lambdas/<folder>/app.py`` as module ``<folder>_app``.

    Both functions are called ``app.py`` (handler ``app.handler``), so they
    are loaded by path under distinct names.
    """
    name = f"{folder}_app"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, LAMBDAS / folder / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # No __pycache__ in the function folders: they are zipped as they are.
    write_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = write_bytecode
    return module


@pytest.fixture(autouse=True)
def fake_aws_env(monkeypatch, tmp_path):
    """Fake credentials and region; no profile, config file or endpoint leaks in."""
    for var in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_REGION",
        "DEST_BUCKET",
        "DEST_PREFIX",
        "MANIFEST_PREFIX",
        "JPEG_QUALITY",
        "MAX_PIXELS",
        "MAX_BYTES",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture
def s3():
    """An S3 client on moto's in-process mock, with the source and backup buckets."""
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=SOURCE)
        client.create_bucket(Bucket=DEST)
        yield client


def _handler_module(folder: str, monkeypatch) -> ModuleType:
    module = load_lambda(folder)
    # The handlers cache their client; start each test with a fresh one
    # created inside the test's mock_aws.
    module.s3_client.cache_clear()
    monkeypatch.setenv("DEST_BUCKET", DEST)
    return module


@pytest.fixture
def backup(s3, monkeypatch):
    """The backup function's module, with DEST_BUCKET set to the backup bucket."""
    module = _handler_module("backup", monkeypatch)
    yield module
    module.s3_client.cache_clear()


@pytest.fixture
def compress(s3, monkeypatch):
    """The compress function's module, with DEST_BUCKET set to the backup bucket."""
    # The handler sets Pillow's global pixel limit; restore it afterwards.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    module = _handler_module("compress", monkeypatch)
    yield module
    module.s3_client.cache_clear()

"""Test images made with Pillow (no binary fixtures)."""

from __future__ import annotations

import io
import struct

from PIL import Image

ORIENTATION = 0x0112


def jpeg_bytes(image: Image.Image, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", **options)
    return out.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def photo(width: int, height: int, seed_sigma: float = 40.0) -> Image.Image:
    """A photo-like RGB image: smooth gradients plus sensor-like noise."""
    size = (width, height)
    gradient = Image.linear_gradient("L").resize(size)
    radial = Image.radial_gradient("L").resize(size)
    noise = Image.effect_noise(size, seed_sigma)
    red = Image.blend(gradient, noise, 0.25)
    green = Image.blend(radial, noise, 0.2)
    blue = Image.blend(gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT), noise, 0.3)
    return Image.merge("RGB", (red, green, blue))


def with_declared_size(jpeg: bytes, width: int, height: int) -> bytes:
    """Rewrite the frame header (SOFn) of a JPEG to claim another pixel size.

    A tiny file that says it is huge: a decompression bomb as far as a
    decoder that trusts the header is concerned.
    """
    i = 2  # after SOI
    while i < len(jpeg):
        if jpeg[i] != 0xFF:
            raise ValueError("not at a JPEG marker")
        marker = jpeg[i + 1]
        (length,) = struct.unpack(">H", jpeg[i + 2 : i + 4])
        if marker in (0xC0, 0xC1, 0xC2):
            # FFCn, length(2), precision(1), height(2), width(2)
            start = i + 5
            return jpeg[:start] + struct.pack(">HH", height, width) + jpeg[start + 4 :]
        i += 2 + length
    raise ValueError("no SOF marker found")

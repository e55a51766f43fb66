"""Recognising an image by its first bytes (the upload's declared type is not trusted)."""

from __future__ import annotations

import hashlib

SNIFF_BYTES = 32


def sniff(prefix: bytes) -> str | None:
    """The image type the bytes start with, or None when they are not an image we accept."""
    if prefix.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if prefix.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if prefix[:4] == b"RIFF" and prefix[8:12] == b"WEBP":
        return "image/webp"
    if prefix[4:8] == b"ftyp" and prefix[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
        return "image/heic"
    return None


def content_key(data: bytes) -> str:
    """The cache key of a photo: the SHA-256 of its bytes (an exact-duplicate key)."""
    return hashlib.sha256(data).hexdigest()

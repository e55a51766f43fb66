from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from reference.waste.images import content_key, sniff


def _encoded(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 30)).save(out, format=fmt)
    return out.getvalue()


def test_sniffs_real_images() -> None:
    assert sniff(_encoded("JPEG")[:32]) == "image/jpeg"
    assert sniff(_encoded("PNG")[:32]) == "image/png"
    assert sniff(_encoded("WEBP")[:32]) == "image/webp"
    assert sniff(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00") == "image/heic"


def test_refuses_what_is_not_an_image() -> None:
    for data in (b"", b"GIF89a....", b"%PDF-1.7", b"<html>", b"PK\x03\x04", b"\xff\xd8"):
        assert sniff(data) is None


@given(st.binary(max_size=64))
def test_sniff_never_raises_and_only_names_accepted_types(data: bytes) -> None:
    assert sniff(data) in (None, "image/jpeg", "image/png", "image/webp", "image/heic")


@given(st.binary(max_size=256), st.binary(max_size=256))
def test_content_key_is_exact(a: bytes, b: bytes) -> None:
    assert (content_key(a) == content_key(b)) == (a == b)
    assert len(content_key(a)) == 64

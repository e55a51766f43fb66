"""The perceptual hash the near-duplicate cache keys on: a 64-bit DCT hash (pHash, through
``imagehash``) of the photo as the user saw it (EXIF orientation applied).

Two photos of the same scene hash a few bits apart, two different scenes about 32 apart. A photo
that cannot be hashed safely has no hash (:class:`Unhashable` says why) and is looked up by its
exact digest only: it can never be a near hit.
"""

from __future__ import annotations

import io
import warnings

import imagehash
from PIL import Image, ImageOps, UnidentifiedImageError

HASH_BITS = 64
# A phone photo is at most ~50 MP; anything larger is refused before its pixels are decoded.
MAX_PIXELS = 64_000_000
# The hash reads a 32x32 grey copy; the JPEG decoder can scale down while decoding to about
# this size, which makes hashing a 12 MP photo cheap.
_DRAFT_SIZE = (256, 256)


class Unhashable(ValueError):
    """Why a photo has no perceptual hash (``reason``: undecodable, animated, too_large)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def perceptual_hash(data: bytes) -> int:
    """The photo's 64-bit pHash as an integer; :class:`Unhashable` when it has none."""
    try:
        with warnings.catch_warnings():
            # A decompression-bomb warning is an error here: the size check below decides.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width * height > MAX_PIXELS:
                    raise Unhashable("too_large", f"{width}x{height} pixels")
                if getattr(img, "n_frames", 1) > 1:
                    raise Unhashable("animated", f"{img.n_frames} frames")
                img.draft("L", _DRAFT_SIZE)
                upright = ImageOps.exif_transpose(img.convert("L"))
                # convert() drops the EXIF orientation; read it from the original instead.
                orientation = img.getexif().get(0x0112, 1)
                upright = ImageOps.exif_transpose(img) if orientation != 1 else upright
                upright = upright.convert("L")
                upright.load()
    except Unhashable:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,  # PIL raises it for some malformed headers
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise Unhashable("undecodable", f"{type(exc).__name__}: {exc}") from None
    return int(str(imagehash.phash(upright)), 16)


def distance(a: int, b: int) -> int:
    """Hamming distance of two hashes."""
    return (a ^ b).bit_count()

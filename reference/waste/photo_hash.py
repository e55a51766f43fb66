"""What the near-duplicate cache knows of a photo's pixels: its :class:`Fingerprint`, a 64-bit
DCT hash (pHash, through ``imagehash``) of the grey picture and a 4x4 colour thumbnail, both of
the photo as the user saw it (EXIF orientation applied).

Two photos of the same scene hash a few bits apart, two different scenes about 32 apart. The
pHash sees luminance only, so two look-alikes of different categories in one scene (a paper cup
beside a paper pack, a clear PET bottle beside a green one) can hash the same; the thumbnail is
the independent second signature that tells them apart (``wastecoach cache-sweep`` measures
both). A photo that cannot be fingerprinted safely has none (:class:`Unhashable` says why) and is
looked up by its exact digest only: it can never be a near hit.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

import imagehash
from PIL import Image, ImageOps, UnidentifiedImageError

HASH_BITS = 64
# The colour thumbnail: COLOUR_CELLS x COLOUR_CELLS RGB cells (each the mean of its area),
# row-major, one byte per channel.
COLOUR_CELLS = 4
COLOUR_BYTES = COLOUR_CELLS * COLOUR_CELLS * 3
# The largest colour distance there is (black against white in every cell), sqrt(3) * 255.
COLOUR_DISTANCE_MAX = math.sqrt(3) * 255
# A phone photo is at most ~50 MP; anything larger is refused before its pixels are decoded.
MAX_PIXELS = 64_000_000
# The hash reads a 32x32 grey copy and the thumbnail 4x4; the JPEG decoder can scale down while
# decoding to about this size, which makes fingerprinting a 12 MP photo cheap.
_DRAFT_SIZE = (256, 256)


class Unhashable(ValueError):
    """Why a photo has no fingerprint (``reason``: undecodable, animated, too_large)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Fingerprint:
    phash: int  # 64 bits
    colour: bytes  # COLOUR_BYTES: the thumbnail's cells, row-major, R G B each

    def __post_init__(self) -> None:
        if not 0 <= self.phash < 1 << HASH_BITS:
            raise ValueError(f"phash must be a {HASH_BITS}-bit integer, got {self.phash}")
        if len(self.colour) != COLOUR_BYTES:
            raise ValueError(f"colour must be {COLOUR_BYTES} bytes, got {len(self.colour)}")


def fingerprint(data: bytes) -> Fingerprint:
    """The photo's pHash and colour thumbnail; :class:`Unhashable` when it has none."""
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
                img.draft("RGB", _DRAFT_SIZE)
                upright = ImageOps.exif_transpose(img).convert("RGB")
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
    phash = int(str(imagehash.phash(upright.convert("L"))), 16)
    cells = (COLOUR_CELLS, COLOUR_CELLS)
    return Fingerprint(phash, upright.resize(cells, Image.Resampling.BOX).tobytes())


def distance(a: int, b: int) -> int:
    """Hamming distance of two hashes."""
    return (a ^ b).bit_count()


def colour_distance(a: bytes, b: bytes) -> float:
    """How far two colour thumbnails are: the mean over the cells of the RGB (Euclidean)
    distance of the cell's colours, from 0 to :data:`COLOUR_DISTANCE_MAX`."""
    total = 0.0
    for cell in range(0, COLOUR_BYTES, 3):
        total += math.dist(a[cell : cell + 3], b[cell : cell + 3])
    return total / (COLOUR_CELLS * COLOUR_CELLS)

"""A seeded mutation fuzz of the image loader: whatever a damaged file looks like, the only
exception that leaves ``load_image`` is ``ImageError`` (the booth's 400), never a decoder's own
``OSError``, ``SyntaxError``, ``struct.error``... (the booth's 500).

One photo of the shared kit, small, is written in every format below; each file is then
damaged in many seeded ways (bit flips, overwritten runs, truncation, cut and duplicated
slices, implausible header fields) and loaded. No extra dependency: ``random.Random(seed)``
makes every case reproducible from its format and number.
"""

from __future__ import annotations

import io
import random
import struct
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from PIL import Image, features

from render.images import ImageError, load_image
from tests.support.photos import guest_photo

CASES_PER_FORMAT = 400
SEED = 20261202
# A mutated header may claim a large but legal size; keep each decode small and the run short.
FUZZ_MAX_PIXELS = 4_000_000


def _base_photo() -> Image.Image:
    photo = guest_photo()
    photo.thumbnail((96, 96))
    return photo


def samples() -> dict[str, bytes]:
    """The photo as a valid file in each format (and a few variants of one format)."""
    photo = _base_photo()
    alpha = photo.convert("RGBA")
    alpha.putalpha(Image.linear_gradient("L").resize(photo.size))
    variants: list[tuple[str, Image.Image, str, dict]] = [
        ("jpeg", photo, "JPEG", {"quality": 85}),
        ("jpeg-progressive", photo, "JPEG", {"quality": 85, "progressive": True}),
        ("jpeg-cmyk", photo.convert("CMYK"), "JPEG", {}),
        ("png", photo, "PNG", {}),
        ("png-alpha", alpha, "PNG", {}),
        ("png-palette", photo.convert("P"), "PNG", {}),
        ("png-16bit", photo.convert("I;16"), "PNG", {}),
        ("gif", photo.convert("P"), "GIF", {}),
        ("bmp", photo, "BMP", {}),
        ("tiff", photo, "TIFF", {}),
        ("tiff-lzw", photo, "TIFF", {"compression": "tiff_lzw"}),
        ("webp-lossy", photo, "WEBP", {"quality": 80}),
        ("webp-lossless", alpha, "WEBP", {"lossless": True}),
        ("ppm", photo, "PPM", {}),
        ("ico", photo, "ICO", {"sizes": [(64, 64)]}),
        ("dds", alpha, "DDS", {}),
        ("tga-rle", photo, "TGA", {"compression": "tga_rle"}),
        ("pcx", photo, "PCX", {}),
        ("sgi", photo, "SGI", {}),
        ("qoi", photo, "QOI", {}),
    ]
    if features.check("jpg_2000"):
        variants.append(("jpeg2000", photo, "JPEG2000", {}))
    files = {}
    for name, image, fmt, options in variants:
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options)
        files[name] = buffer.getvalue()
    return files


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One seeded way of damaging a file; most of the damage lands in the header, where the
    parsers trust what they read."""
    out = bytearray(data)
    size = len(out)
    head = min(size, 128)
    kind = rng.randrange(8)
    if kind == 0:  # a few flipped bits
        for _ in range(rng.randint(1, 8)):
            position = rng.randrange(head if rng.random() < 0.6 else size)
            out[position] ^= 1 << rng.randrange(8)
    elif kind == 1:  # a run overwritten with noise, zeros or ones
        start = rng.randrange(size)
        length = rng.randint(1, 64)
        fill = rng.choice([None, 0x00, 0xFF])
        for position in range(start, min(size, start + length)):
            out[position] = rng.randrange(256) if fill is None else fill
    elif kind == 2:  # truncated
        del out[rng.randrange(1, size) :]
    elif kind == 3:  # a slice cut out
        start = rng.randrange(size)
        del out[start : start + rng.randint(1, 256)]
    elif kind == 4:  # a slice repeated
        start = rng.randrange(size)
        piece = out[start : start + rng.randint(1, 256)]
        out[start:start] = piece * rng.randint(1, 4)
    elif kind == 5:  # noise inserted
        start = rng.randrange(size)
        out[start:start] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    else:  # an implausible 16- or 32-bit field in the header (sizes, offsets, counts)
        for _ in range(rng.randint(1, 3)):
            width = rng.choice([2, 4])
            position = rng.randrange(max(1, head - width))
            value = rng.choice([0, 1, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, rng.getrandbits(32)])
            endian = rng.choice("<>")
            packed = struct.pack(f"{endian}I", value & 0xFFFFFFFF)
            packed = packed[:width] if endian == "<" else packed[-width:]
            out[position : position + width] = packed
    return bytes(out)


def cases(files: dict[str, bytes]) -> Iterator[tuple[str, int, bytes]]:
    for name, data in files.items():
        rng = random.Random(f"{SEED}:{name}")
        for number in range(CASES_PER_FORMAT):
            yield name, number, mutate(data, rng)


def run_fuzz(loader: Callable[..., Image.Image]) -> tuple[Counter[str], list[str]]:
    """Load every case; count the outcomes and describe each one that escaped."""
    outcomes: Counter[str] = Counter()
    escaped: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about some damage; only errors count here
        for name, number, data in cases(samples()):
            try:
                loader(data, max_pixels=FUZZ_MAX_PIXELS)
                outcomes["loaded"] += 1
            except ImageError:
                outcomes["ImageError"] += 1
            except Exception as exc:
                outcomes["escaped"] += 1
                escaped.append(f"{name} #{number}: {type(exc).__name__}: {exc}")
    return outcomes, escaped


def test_the_unmutated_samples_load() -> None:
    files = samples()
    assert len(files) >= 20
    for name, data in files.items():
        image = load_image(data)
        assert image.mode == "RGB", name
        assert max(image.size) == (64 if name == "ico" else 96), name


@pytest.mark.slow
def test_only_image_error_escapes_a_damaged_file() -> None:
    started = time.monotonic()
    outcomes, escaped = run_fuzz(load_image)
    seconds = time.monotonic() - started
    total = sum(outcomes.values())
    formats = len(samples())
    print(f"image fuzz: {total} cases in {formats} formats, {dict(outcomes)}, {seconds:.1f} s")
    assert total == formats * CASES_PER_FORMAT
    assert outcomes["ImageError"] > total // 4  # the damage really was damage, mostly
    assert not escaped, f"{len(escaped)} of {total} escaped:\n" + "\n".join(escaped[:40])

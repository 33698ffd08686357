"""Writing files so that a reader never sees half of one, and fingerprinting them.

The one atomic write and the one sha256 of the project. They live in ``render/``, the lowest
layer, so that ``render/`` (the model cache, the Gram cache), ``export/`` (print files) and
``kiosk/`` (a capture's photos and renders) all use them without importing upwards.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path`` to write, renamed into place when the block ends (and
    removed if it raises): for writers that want a file name (a copy, a model converter).

    A killed process leaves at most a hidden ``.NAME.*.part`` beside it, never half a file
    under the real name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these are ordinary data files
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_write(path: Path) -> Iterator[BinaryIO]:
    """``atomic_path`` as an open binary stream; the data is on disk (fsync) before the
    rename makes it visible."""
    with atomic_path(path) as tmp, tmp.open("wb") as stream:
        yield stream
        stream.flush()
        os.fsync(stream.fileno())


def write_atomic(path: Path, data: bytes) -> None:
    """``atomic_write`` for data already in memory."""
    with atomic_write(path) as stream:
        stream.write(data)


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB blocks (model files are hundreds of MB)."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, algorithm).hexdigest()


def sha256_file(path: Path) -> str:
    return file_digest(path, "sha256")


def sha256_bytes(*parts: bytes) -> str:
    """Hex sha256 of the parts one after another (as if joined, without the copy)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()

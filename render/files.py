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
def atomic_write(path: Path) -> Iterator[BinaryIO]:
    """Write to a temporary file beside ``path``, then rename it into place.

    A killed process leaves at most a hidden ``.NAME.*.part`` beside it, never half a file
    under the real name; the data is on disk (fsync) before the rename makes it visible."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these are ordinary data files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

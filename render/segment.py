"""Person segmentation models, opened once per process and reused."""

from __future__ import annotations

import os
from functools import cache

import numpy as np
from PIL import Image

from render.models import ModelStore


@cache
def rembg_session(model_dir: str, name: str = "u2netp"):  # type: ignore[no-untyped-def]
    """A rembg session on the provisioned model file (rembg reads it from REMBG_HOME)."""
    store = ModelStore(model_dir)
    store.ensure(name)
    os.environ["REMBG_HOME"] = str(store.rembg_home)
    os.environ["U2NET_HOME"] = str(store.rembg_home)  # older rembg releases read this one
    from rembg import new_session

    return new_session(name, providers=["CPUExecutionProvider"])


def u2netp_mask(image: Image.Image, model_dir: str) -> np.ndarray:
    """Soft person mask (uint8, 0..255) at the image's size from rembg's u2netp."""
    session = rembg_session(model_dir, "u2netp")
    mask = session.predict(image.convert("RGB"))[0]
    return np.asarray(mask.convert("L").resize(image.size, Image.Resampling.BILINEAR))

"""Person segmentation models, opened once per process and reused.

Two families, fused by measurement (see ``benchmarks/bench_cutout.py``):

- MediaPipe's selfie segmentation (general 256×256 and landscape 256×144 tflite), run with
  OpenCV's TFLite importer: a few milliseconds each, people only. We average both models on
  the image and on its mirror image.
- u2netp (rembg's model file, run on onnxruntime): a salient-object model, slower, that also
  keeps what the guests hold (props, a helmet) but drops limbs on some photos and finds
  "objects" in empty scenes. It only adds regions next to the people MediaPipe found.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from render.models import ModelStore

SELFIE_INPUTS = {"selfie": (256, 256), "selfie-landscape": (256, 144)}  # model -> (w, h)
U2NETP_INPUT = 320
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
NEAR_PEOPLE = 0.06  # u2netp may add regions this far from the people (fraction of long side)


@cache
def u2netp_session(model_dir: str) -> Any:  # onnxruntime is untyped
    """u2netp (rembg's model file) on onnxruntime, opened once per process. Not through
    rembg itself: importing rembg imports pymatting, whose numba kernels compile on a fresh
    install's first import (50 s of CPU), and all we use of it is this session."""
    import onnxruntime

    path = ModelStore(Path(model_dir)).ensure("u2netp")
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _u2netp(x: np.ndarray, model_dir: str) -> np.ndarray:
    """u2netp's raw output (320×320) for an RGB image already at its input size, with
    rembg's input normalisation (scaled by the image's maximum, then ImageNet's)."""
    session = u2netp_session(model_dir)
    x = x.astype(np.float32) / max(float(x.max()), 1.0)
    x = ((x - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)[None].astype(np.float32)
    return session.run(None, {session.get_inputs()[0].name: x})[0][0, 0]


class _SelfieNet:
    """One OpenCV net per model file; cv2.dnn nets are not thread-safe, hence the lock."""

    def __init__(self, path: str, size: tuple[int, int]) -> None:
        self.net = cv2.dnn.readNetFromTFLite(path)
        self.size = size
        self.lock = threading.Lock()

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """Person probability (float32 0..1) at the model's input size."""
        x = cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA)
        blob = (x.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        with self.lock:
            self.net.setInput(np.ascontiguousarray(blob))
            return self.net.forward()[0, 0].copy()


@cache
def selfie_net(model_dir: str, name: str) -> _SelfieNet:
    path = ModelStore(Path(model_dir)).ensure(name)
    return _SelfieNet(str(path), SELFIE_INPUTS[name])


def selfie_probability(rgb: np.ndarray, model_dir: str) -> np.ndarray:
    """Person probability at the image's size: both MediaPipe models, image and mirror image."""
    height, width = rgb.shape[:2]
    mirrored = np.ascontiguousarray(rgb[:, ::-1])
    total = np.zeros((height, width), np.float32)
    for name in SELFIE_INPUTS:
        net = selfie_net(model_dir, name)
        for image, flip in ((rgb, False), (mirrored, True)):
            out = cv2.resize(net(image), (width, height), interpolation=cv2.INTER_LINEAR)
            total += out[:, ::-1] if flip else out
    return total / (2 * len(SELFIE_INPUTS))


def u2netp_probability(rgb: np.ndarray, model_dir: str) -> np.ndarray:
    """u2netp's foreground probability at the image's size (rembg's input normalisation, but
    not its per-image min-max stretch, so an empty scene stays near 0)."""
    x = cv2.resize(rgb, (U2NETP_INPUT, U2NETP_INPUT), interpolation=cv2.INTER_AREA)
    out = _u2netp(x, model_dir)
    height, width = rgb.shape[:2]
    return np.clip(cv2.resize(out, (width, height), interpolation=cv2.INTER_LINEAR), 0, 1)


def person_probability(rgb: np.ndarray, model_dir: str, *, use_u2netp: bool = False) -> np.ndarray:
    """Fused person probability (float32 0..1) at the image's size."""
    people = selfie_probability(rgb, model_dir)
    if not use_u2netp:
        return people
    side = max(rgb.shape[:2])
    reach = max(3, round(NEAR_PEOPLE * side)) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach))
    near = cv2.dilate((people >= 0.5).astype(np.uint8), kernel).astype(np.float32)
    soft = cv2.GaussianBlur(near, (0, 0), reach / 6)  # no hard arc where the reach ends
    return np.maximum(people, u2netp_probability(rgb, model_dir) * soft)


def u2netp_mask(image: Image.Image, model_dir: str) -> np.ndarray:
    """Soft mask (uint8, 0..255) at the image's size from u2netp alone, as rembg makes it:
    Lanczos to the input size, the output stretched to its own min..max (the benchmark's
    "u2netp alone" row)."""
    rgb = image.convert("RGB")
    x = np.asarray(rgb.resize((U2NETP_INPUT, U2NETP_INPUT), Image.Resampling.LANCZOS))
    out = _u2netp(x, model_dir)
    low, high = float(out.min()), float(out.max())
    stretched = (out - low) / max(high - low, 1e-6)
    mask = Image.fromarray((stretched * 255).astype(np.uint8))
    return np.asarray(mask.resize(image.size, Image.Resampling.BILINEAR))

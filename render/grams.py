"""A painting's style targets (Gram matrices), kept in memory and on disk.

Computing them is one VGG forward of the painting per size and setting: cheap once, but the
booth paints the same few paintings all day, so the next guest reuses them. Keys are the
painting's pixel hash and the settings, so a renamed file or another copy still hits.
Targets are computed in float32 (once per style, so precision costs nothing here).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path

import torch
from PIL import Image

from render.files import sha256_bytes, write_atomic
from render.losses import gram_matrix
from render.options import STYLE_LAYERS
from render.tensors import to_tensor
from render.vgg import VGG19Features

Grams = dict[str, torch.Tensor]


class GramCache:
    """Style targets by image hash and settings: an LRU in memory over safetensors files."""

    def __init__(self, directory: Path | None = None, capacity: int = 64) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.capacity = capacity
        self._memory: OrderedDict[str, Grams] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = {"memory": 0, "disk": 0, "computed": 0}

    @staticmethod
    def key(digest: str, size: tuple[int, int], pool: str, layers: tuple[str, ...]) -> str:
        settings = json.dumps({"size": size, "pool": pool, "layers": layers, "v": 1})
        return sha256_bytes(f"{digest}:{settings}".encode())[:32]

    def get(
        self,
        vgg: VGG19Features,
        style: Image.Image,
        digest: str,
        layers: tuple[str, ...] = STYLE_LAYERS,
        pool: str = "max",
    ) -> Grams:
        """Gram matrices of ``style`` (already resized) on the VGG's device."""
        device = next(vgg.parameters()).device
        key = self.key(digest, style.size, pool, layers)
        grams = self._remembered(key)
        if grams is None:
            grams = self._load(key)
            if grams is None:
                grams = self._compute(vgg, style, layers)
                self._save(key, grams)
                self.hits["computed"] += 1
            else:
                self.hits["disk"] += 1
            self._remember(key, grams)
        return {name: gram.to(device) for name, gram in grams.items()}

    def _remembered(self, key: str) -> Grams | None:
        with self._lock:
            if key not in self._memory:
                return None
            self._memory.move_to_end(key)
            self.hits["memory"] += 1
            return self._memory[key]

    def _remember(self, key: str, grams: Grams) -> None:
        with self._lock:
            self._memory[key] = grams
            while len(self._memory) > self.capacity:
                self._memory.popitem(last=False)

    @staticmethod
    def _compute(vgg: VGG19Features, style: Image.Image, layers: tuple[str, ...]) -> Grams:
        device = next(vgg.parameters()).device
        with torch.no_grad():
            features = vgg(to_tensor(style, device), layers)
        return {name: gram_matrix(features[name]).cpu() for name in layers}

    def _path(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{key}.safetensors"

    def _load(self, key: str) -> Grams | None:
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError):
            path.unlink(missing_ok=True)  # corrupt: compute it again
            return None

    def _save(self, key: str, grams: Grams) -> None:
        path = self._path(key)
        if path is None:
            return
        from safetensors.torch import save

        write_atomic(path, save({k: v.contiguous() for k, v in grams.items()}))

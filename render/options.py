"""The typed knobs of each render step, with their tuned defaults: cut-out, compose, HQ style.

Frozen and validated at construction, so a bad value fails where it is written (a settings
file, a command line), not halfway through a guest's painting. Torch-free and OpenCV-free: the
server and the command line read these defaults without loading any model code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal, Self

from render.errors import StyleBoothError

DEFAULT_SIZE = 512  # long side of a composite and its painting, pixels
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
CONTENT_LAYER = "conv4_2"


class OptionError(StyleBoothError, ValueError, code="bad_option"):
    """A render option out of range or unknown (a size, a strength, an HQ knob, a device). Also
    a ``ValueError``, as Python code expects of a bad argument."""


class _FromMapping:
    """``from_mapping``: an options object from a plain dict (a TOML table, a job's JSON),
    checked key by key against the defaults' types, so a typo or a wrong type is refused with
    a message naming the key. Lists become the tuples the fields expect."""

    label: ClassVar[str]  # what the options are called in messages

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Self:
        defaults = {f.name: f.default for f in fields(cls)}  # type: ignore[arg-type]
        unknown = set(values) - set(defaults)
        if unknown:
            raise OptionError(
                f"unknown {cls.label} option(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(defaults))}"
            )
        checked = {k: _like(f"{cls.label} option {k}", v, defaults[k]) for k, v in values.items()}
        return cls(**checked)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _like(name: str, value: object, default: object) -> object:
    """``value`` as the type of ``default`` (an int passes as a float), or ``OptionError``."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        want = "true or false"
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        want = "a whole number"
    elif isinstance(default, float) or default is None:
        if value is None and default is None:
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        want = "a number"
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
        want = "a string"
    elif isinstance(default, tuple):
        if isinstance(value, list | tuple) and all(_is_number(v) for v in value):
            return tuple(float(v) for v in value)
        want = "a list of numbers"
    else:
        return value
    raise OptionError(f"{name} must be {want}, got {value!r}")


@dataclass(frozen=True)
class CutoutOptions(_FromMapping):
    """How ``render.cutout.cut_out`` cuts the people out (see there for the method)."""

    label: ClassVar[str] = "cut-out"

    use_u2netp: bool = False  # also run u2netp: keeps held props, ~3× the time
    sharpen: float = 8.0  # slope of the models' probability around 0.5 before refinement
    radius: float = 3.0  # guided-filter window, pixels at the 512 px working size
    eps: float = 1e-3  # guided-filter edge sensitivity
    matting: bool = False  # closed-form matting (pymatting) in a thin band around the edge
    contrast: tuple[float, float] = (0.1, 0.9)  # alpha below the first becomes 0, above 1
    despeckle: float = 0.01  # slivers thinner than this fraction of the long side go
    feather: float = 0.0  # Gaussian blur of the alpha, in pixels of the photo
    decontaminate: bool = True  # take the old background's colour out of the rim

    def __post_init__(self) -> None:
        low, high = self.contrast
        if not 0.0 <= low < high <= 1.0:
            raise OptionError(f"contrast must be two values 0 <= low < high <= 1, got {low, high}")
        if self.radius <= 0 or self.eps <= 0 or self.sharpen <= 0:
            raise OptionError("radius, eps and sharpen must be positive")
        if self.feather < 0 or self.despeckle < 0:
            raise OptionError("feather and despeckle must be >= 0")


@dataclass(frozen=True)
class ComposeOptions(_FromMapping):
    """How ``render.compose.compose_layers`` puts the people onto a scene."""

    label: ClassVar[str] = "compose"

    scale: float = 1.0  # the people's size; 1 = natural (their height in the frame as shot)
    harmonize: float = 0.5  # 0..1: how far their colours move towards the scene's light
    shadow: float | None = None  # 0..1 opacity of a soft shadow; None: the scene's own default

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise OptionError(f"scale must be positive, got {self.scale}")
        if not 0.0 <= self.harmonize <= 1.0:
            raise OptionError(f"harmonize must be between 0 and 1, got {self.harmonize}")
        if self.shadow is not None and not 0.0 <= self.shadow <= 1.0:
            raise OptionError(f"shadow must be between 0 and 1, got {self.shadow}")


@dataclass(frozen=True)
class GatysOptions(_FromMapping):
    """Every knob of the HQ mode. The defaults are the tuned booth defaults (see README)."""

    label: ClassVar[str] = "HQ"

    content_weight: float = 1.0  # α
    style_weight: float = 8.0  # β
    relative_weights: bool = True  # α, β per unit of this photo's and painting's losses
    tv_weight: float = 0.0  # total variation; up to 1e7 changed nothing visible at 512 px
    layer_weights: tuple[float, ...] = (1.0, 0.8, 0.5, 0.3, 0.1)  # for STYLE_LAYERS
    steps: int = 90  # iterations (VGG forward+backward passes) in all, over the scales
    scales: tuple[float, ...] = (0.5, 1.0)  # of the final size
    step_shares: tuple[float, ...] = (0.6, 0.4)  # of `steps`, per scale
    optimizer: Literal["lbfgs", "adam"] = "lbfgs"
    lr: float = 0.02  # Adam only; L-BFGS takes unit steps
    init: Literal["content", "noise"] = "content"
    restore_detail: bool = True  # between scales, add back the photo's finer detail
    match_palette: bool = True  # start from the photo in the painting's colours (init=content)
    style_scale: float = 1.0  # painting's area relative to the output's: brush-stroke size
    pool: Literal["max", "avg"] = "max"
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    channels_last: bool = True
    preview_every: int = 20  # steps between preview images (0: none)
    min_side: int = 64  # scales whose short side would be smaller are skipped

    def __post_init__(self) -> None:
        if len(self.layer_weights) != len(STYLE_LAYERS):
            raise OptionError(f"layer_weights needs {len(STYLE_LAYERS)} values")
        if len(self.scales) != len(self.step_shares) or not self.scales:
            raise OptionError("scales and step_shares need the same, non-zero length")
        if self.steps < 0:
            raise OptionError("steps must be >= 0")
        if self.optimizer not in {"lbfgs", "adam"}:
            raise OptionError(f"optimizer must be lbfgs or adam, got {self.optimizer!r}")
        if self.init not in {"content", "noise"}:
            raise OptionError(f"init must be content or noise, got {self.init!r}")
        if self.pool not in {"max", "avg"}:
            raise OptionError(f"pool must be max or avg, got {self.pool!r}")
        if self.precision not in {"auto", "bf16", "fp32"}:
            raise OptionError(f"precision must be auto, bf16 or fp32, got {self.precision!r}")

    @property
    def style_weights(self) -> dict[str, float]:
        return dict(zip(STYLE_LAYERS, self.layer_weights, strict=True))


# The defaults, as values (for argument defaults and the command line's --help).
DEFAULT_CUTOUT = CutoutOptions()
DEFAULT_COMPOSE = ComposeOptions()
DEFAULT_HQ = GatysOptions()

"""How much fine detail an image holds: the yardstick of a print master against an enlargement.

``detail_energy`` is the mean squared Laplacian of the luminance (0..1) at 150 DPI scale: the
energy in the highest octave of spatial frequencies, where a Lanczos enlargement has almost
none and brushwork has plenty. Measured at one scale (150 DPI over the print) so a 300 DPI
file and a 150 DPI one are judged by what a viewer at arm's length sees, not by pixel count.
Numpy only: the benchmark, the tests and the export process can all call it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def detail_energy(image: Image.Image, size: tuple[int, int] | None = None) -> float:
    """Mean squared 4-neighbour Laplacian of ``image``'s luminance (0..1), after shrinking it
    to ``size`` (its pixel size at 150 DPI; None: as it is). Never enlarges."""
    if size is not None and size != image.size:
        if size[0] > image.width or size[1] > image.height:
            raise ValueError(f"detail is measured at or below an image's own size, not {size}")
        image = image.resize(size, Image.Resampling.BOX)
    luma = np.asarray(image.convert("L"), dtype=np.float64) / 255.0
    if min(luma.shape) < 3:
        raise ValueError("the image is too small to measure its detail")
    centre = luma[1:-1, 1:-1]
    laplacian = luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:] - 4.0 * centre
    return float(np.mean(laplacian**2))


def enlarged(painting: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The plain enlargement a print master is compared with: Lanczos to ``size``."""
    return painting.convert("RGB").resize(size, Image.Resampling.LANCZOS)


def detail_ratio(
    master: Image.Image, painting: Image.Image, size: tuple[int, int] | None = None
) -> float:
    """``master``'s detail energy over that of ``painting`` enlarged (Lanczos) to the master's
    size, both measured at ``size`` (150 DPI scale; None: the master's own size)."""
    plain = enlarged(painting, master.size)
    return detail_energy(master, size) / max(detail_energy(plain, size), 1e-12)

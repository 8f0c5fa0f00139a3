"""How a reconstruction is placed in metres: the one rule shared by the add-on's import
(``addon/axes.py``, Blender's frame) and the mesh export (``mesh_export.py``, glTF's).

numpy only (this folder is copied into the add-on verbatim).
"""

from __future__ import annotations

import numpy as np


def standing_fit(means: np.ndarray, height: float) -> tuple[float, np.ndarray]:
    """The scale that makes splats ``height`` metres tall and the model-frame point that
    goes to the origin: feet on the ground, centred on the vertical axis.

    Height is measured between the 0.1 and 99.9 percentiles of y so that a few stray
    splats do not shrink the person; an empty or flat set keeps scale 1.

    Args:
        means: (N, 3) model frame (y up). height: metres, positive.
    Returns:
        (metres per model unit, (3,) float64 model-frame point: the x and z centre of
        the same percentile box and its lowest y).
    """
    if len(means) == 0:
        return 1.0, np.zeros(3)
    m = np.asarray(means, np.float64)
    lo, hi = np.percentile(m[:, 1], [0.1, 99.9])
    scale = float(height / (hi - lo)) if hi - lo > 1e-9 else 1.0
    (x0, x1), (z0, z1) = (np.percentile(m[:, k], [0.1, 99.9]) for k in (0, 2))
    return scale, np.array([(x0 + x1) / 2, lo, (z0 + z1) / 2])

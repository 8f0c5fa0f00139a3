"""THE one conversion between the model frame and Blender's frame (numpy only, no bpy).

Model frame (splat files, the backend): y up, person centred near the origin, about one
unit tall, facing +z, the person's left on +x.
Blender frame: z up, metres, feet on the ground (z = 0), facing -Y, the person's left on +X.

The axis change is the proper rotation of +90 degrees about X, ``(x, y, z) -> (x, -z, y)``:
a permutation with one sign flip, so it is exact in float32. On top of it the importer
scales uniformly by ``scale`` and translates by ``offset`` (Blender frame, metres)::

    p_blender = A @ p_model * scale + offset          A = [[1,0,0],[0,0,-1],[0,1,0]]

Both directions are computed in float64 and rounded to float32 once, always in the same
order, so re-applying the forward map to stored model positions reproduces the float32
Blender positions bit for bit (that is how the exporter recognises unmoved points).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .portable.placement import standing_fit

AXIS_QUAT_WXYZ = np.array([np.sqrt(0.5), np.sqrt(0.5), 0.0, 0.0])
"""(4,) rotation taking model axes to Blender axes: +90 degrees about X, w x y z."""


def model_to_blender_axes(v: np.ndarray) -> np.ndarray:
    """(..., 3) model-frame vectors -> Blender axes, ``(x, y, z) -> (x, -z, y)``; exact."""
    v = np.asarray(v)
    return np.stack([v[..., 0], -v[..., 2], v[..., 1]], axis=-1)


def blender_to_model_axes(v: np.ndarray) -> np.ndarray:
    """(..., 3) Blender-frame vectors -> model axes, ``(x, y, z) -> (x, z, -y)``; exact."""
    v = np.asarray(v)
    return np.stack([v[..., 0], v[..., 2], -v[..., 1]], axis=-1)


@dataclass(frozen=True)
class Placement:
    """Where a model-frame splat set sits in Blender.

    Attributes:
        scale: metres per model unit (uniform).
        offset: (3,) Blender-frame translation in metres, applied after scaling.
    """

    scale: float
    offset: tuple[float, float, float]

    @classmethod
    def fit(cls, means: np.ndarray, target_height: float) -> Placement:
        """The placement that makes ``means`` (N, 3) model frame ``target_height`` metres
        tall, feet at z = 0, centred on the Z axis.

        Height is measured between the 0.1 and 99.9 percentiles of y so that a few stray
        splats do not shrink the person; an empty or flat set keeps scale 1.
        """
        if target_height <= 0:
            raise ValueError(f"target height must be positive, got {target_height} m")
        scale, centre = standing_fit(means, target_height)
        c = model_to_blender_axes(centre) * scale
        return cls(scale, (float(-c[0]), float(-c[1]), float(-c[2])))

    def points_to_blender(self, means: np.ndarray) -> np.ndarray:
        """(N, 3) model-frame positions -> (N, 3) float32 Blender positions in metres."""
        m = np.asarray(means)
        out = np.empty((len(m), 3), np.float32)
        for dst, src, sign in ((0, 0, 1.0), (1, 2, -1.0), (2, 1, 1.0)):
            out[:, dst] = m[:, src].astype(np.float64) * (sign * self.scale) + self.offset[dst]
        return out

    def points_to_model(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) Blender positions in metres -> (N, 3) float32 model-frame positions."""
        p = (np.asarray(points, np.float64) - np.asarray(self.offset)) / self.scale
        return blender_to_model_axes(p).astype(np.float32)

    def quats_to_blender(self, quats_wxyz: np.ndarray) -> np.ndarray:
        """(N, 4) model-frame rotations (w x y z, any length) -> (N, 4) float32 unit
        rotations in Blender's frame, ``AXIS_QUAT_WXYZ * q``; zero quaternions become the
        axis rotation itself."""
        q = np.asarray(quats_wxyz, np.float32)
        norm = np.sqrt(np.einsum("ij,ij->i", q, q))
        zero = norm < 1e-12
        inv = np.float32(np.sqrt(0.5)) / np.where(zero, np.float32(1), norm)
        w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
        out = np.empty((len(q), 4), np.float32)
        # (c, c, 0, 0) * (w, x, y, z) with c = sqrt(1/2), expanded
        np.multiply(w - x, inv, out=out[:, 0])
        np.multiply(x + w, inv, out=out[:, 1])
        np.multiply(y - z, inv, out=out[:, 2])
        np.multiply(z + y, inv, out=out[:, 3])
        out[zero] = AXIS_QUAT_WXYZ.astype(np.float32)
        return out

    def scales_to_blender(self, log_scales: np.ndarray) -> np.ndarray:
        """(N, 3) log standard deviations, model units -> (N, 3) float32 metres (the axes
        are the splat's own, so the frame change does not permute them)."""
        out = np.exp(np.asarray(log_scales, np.float32))
        out *= np.float32(self.scale)
        return out

    def log_scale_offset(self) -> float:
        """log(scale): add to model log-scales to get log-scales in metres."""
        return float(np.log(self.scale))


_A = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # model -> Blender axes


def rotate_model_quats(quats_wxyz: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """(N, 4) model-frame rotations (w x y z, any length) turned by (N, 3, 3) rotation
    matrices given in Blender's frame (e.g. a pose): ``q' = quat(A^T R A) * q``, in the
    model frame, float32, each keeping its length."""
    m = np.einsum("ji,njk,kl->nil", _A, np.asarray(rotations, np.float64), _A)
    r = matrix_to_quat(m)
    q = np.asarray(quats_wxyz, np.float64)
    w1, x1, y1, z1 = r.T
    w2, x2, y2, z2 = q.T
    out = np.stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ],
        axis=1,
    )
    return out.astype(np.float32)


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotation matrices -> (N, 4) unit quaternions w x y z (w >= 0)."""
    trace = np.einsum("nii->n", m)
    cand = np.stack(
        [
            np.stack([1 + trace, m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0],
                      m[:, 1, 0] - m[:, 0, 1]], axis=1),
            np.stack([m[:, 2, 1] - m[:, 1, 2], 1 + 2 * m[:, 0, 0] - trace,
                      m[:, 0, 1] + m[:, 1, 0], m[:, 0, 2] + m[:, 2, 0]], axis=1),
            np.stack([m[:, 0, 2] - m[:, 2, 0], m[:, 0, 1] + m[:, 1, 0],
                      1 + 2 * m[:, 1, 1] - trace, m[:, 1, 2] + m[:, 2, 1]], axis=1),
            np.stack([m[:, 1, 0] - m[:, 0, 1], m[:, 0, 2] + m[:, 2, 0],
                      m[:, 1, 2] + m[:, 2, 1], 1 + 2 * m[:, 2, 2] - trace], axis=1),
        ],
        axis=1,
    )  # fmt: skip
    # each row is 4 x (one component) x q; take the best conditioned one
    diag = np.stack([trace, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], axis=1)
    best = cand[np.arange(len(m)), np.argmax(diag, axis=1)]
    best /= np.linalg.norm(best, axis=1, keepdims=True)
    return best * np.where(best[:, :1] < 0, -1.0, 1.0)

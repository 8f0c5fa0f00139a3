"""SMPL / SMPL-X bodies as a stand-in for the mannequin, when the user has the model files.

SMPL model files are licensed and never shipped or downloaded; the user names a folder
that holds them. :class:`SMPLBody` then gives the same prior outputs as
:mod:`humancrafter.body.mannequin` -- posed joints and part-labelled surface samples -- from
an ``smplx`` body, driven by the same :class:`~humancrafter.body.mannequin.BodyParams`
(the pose is SMPL's own convention: (24, 3) axis-angle per joint in its parent's frame).

Files looked for (``GENDER`` is NEUTRAL, FEMALE or MALE), in this order::

    FOLDER/SMPL_GENDER.pkl   FOLDER/SMPL_GENDER.npz   FOLDER/smpl/SMPL_GENDER.pkl  ...
    FOLDER/SMPLX_GENDER.npz  FOLDER/SMPLX_GENDER.pkl  FOLDER/smplx/SMPLX_GENDER.npz ...

Frames: SMPL's own frame is already y up, facing +z, person's left = +x, in metres. The
adapter scales the body so its rest pose (zero pose, the given betas) is
``1 + 0.05 * shape[0]`` units tall -- the mannequin's height parameter -- and centres its
rest-pose vertical extent on y = 0 with the root joint on the y axis, as the mannequin
does. The root joint stays at its rest position under posing; ``transl`` moves the body.

Part labels: every vertex takes the Sapiens class of the joint that dominates its
skinning weights (:data:`JOINT_PARTS`); a surface sample takes the label of the nearest
corner of its triangle. SMPL has no hair or clothing, so only skin classes appear.
"""

from __future__ import annotations

import contextlib
import io
import pickle
from pathlib import Path

import numpy as np
import torch

from .body.mannequin import BodyParams, SurfaceSamples
from .portable.parts import PART_IDS

MODEL_TYPES: tuple[str, ...] = ("smpl", "smplx")
GENDERS: tuple[str, ...] = ("neutral", "female", "male")
_PREFIX = {"smpl": "SMPL", "smplx": "SMPLX"}
_EXTS = {"smpl": ("pkl", "npz"), "smplx": ("npz", "pkl")}
NUM_JOINTS = {"smpl": 24, "smplx": 55}
"""Joints in each model's kinematic tree (SMPL-X: 22 body, jaw, 2 eyes, 2 x 15 fingers)."""
REQUIRED_ARRAYS = (
    "v_template",
    "shapedirs",
    "posedirs",
    "J_regressor",
    "weights",
    "kintree_table",
    "f",
)
"""Arrays every SMPL-family file holds (smplx's on-disk layout)."""

_SMPL24_PARTS = (
    "Torso", "Left_Upper_Leg", "Right_Upper_Leg", "Torso", "Left_Lower_Leg", "Right_Lower_Leg",
    "Torso", "Left_Foot", "Right_Foot", "Torso", "Left_Foot", "Right_Foot",
    "Face_Neck", "Torso", "Torso", "Face_Neck", "Left_Upper_Arm", "Right_Upper_Arm",
    "Left_Lower_Arm", "Right_Lower_Arm", "Left_Hand", "Right_Hand", "Left_Hand", "Right_Hand",
)  # fmt: skip
JOINT_PARTS: dict[str, np.ndarray] = {
    "smpl": np.array([PART_IDS[n] for n in _SMPL24_PARTS], np.int64),
    "smplx": np.array(
        [PART_IDS[n] for n in _SMPL24_PARTS[:22]]
        + [PART_IDS["Face_Neck"]] * 3
        + [PART_IDS["Left_Hand"]] * 15
        + [PART_IDS["Right_Hand"]] * 15,
        np.int64,
    ),
}
"""Sapiens class of the body region each joint's bone moves (the bone from the joint to its
child: SMPL's ``left_shoulder`` moves the upper arm, ``left_knee`` the shin)."""

_SMPLX_HAND = {22: 28, 23: 43}
"""SMPL's hand joints as SMPL-X joints (left/right middle finger base)."""


def _as_smpl_joint(joint: np.ndarray, model_type: str) -> np.ndarray:
    """Joint indices of ``model_type`` -> the SMPL joint (0..23) that carries them; for
    SMPL-X the jaw and eyes go to the head, the fingers to the hand. int64, same shape."""
    out = np.asarray(joint, np.int64).copy()
    if model_type == "smpl":
        return out
    out[(out >= 22) & (out <= 24)] = 15  # jaw, eyes
    out[(out >= 25) & (out <= 39)] = 22  # left fingers
    out[out >= 40] = 23  # right fingers
    return out


SKIN_RGB = (0.80, 0.60, 0.47)
"""Colour of SMPL surface samples (the mannequin's plain skin tone)."""


class SMPLFilesMissing(FileNotFoundError):
    """No model file was found; the message lists every path that was tried."""


def expected_files(folder: str | Path, model_type: str, gender: str = "neutral") -> list[Path]:
    """Every path where a model file of this type and gender is looked for, in order."""
    _check_choice("model type", model_type, MODEL_TYPES)
    _check_choice("gender", gender, GENDERS)
    folder = Path(folder)
    name = f"{_PREFIX[model_type]}_{gender.upper()}"
    return [d / f"{name}.{ext}" for d in (folder, folder / model_type) for ext in _EXTS[model_type]]


def find_model_file(
    folder: str | Path, model_type: str = "auto", gender: str = "neutral"
) -> tuple[Path, str]:
    """The model file to load and its type.

    Args:
        folder: the user's folder of SMPL files.
        model_type: "smpl", "smplx", or "auto" (SMPL first, then SMPL-X).
    Raises:
        SMPLFilesMissing: none of :func:`expected_files` exists; the message lists them.
    """
    types = MODEL_TYPES if model_type == "auto" else (model_type,)
    tried: list[Path] = []
    for t in types:
        for path in expected_files(folder, t, gender):
            if path.is_file():
                return path, t
            tried.append(path)
    if not Path(folder).is_dir():
        raise SMPLFilesMissing(f"the SMPL folder {folder} does not exist")
    raise SMPLFilesMissing(
        f"no {'/'.join(_PREFIX[t] for t in types)} model file ({gender}) in {folder}; "
        "expected one of: " + ", ".join(str(p) for p in tried)
    )


def _check_choice(what: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ValueError(f"unknown {what} {value!r}; one of {', '.join(options)}")


def _read_arrays(path: Path) -> dict[str, object]:
    """The arrays of a .pkl (latin-1 pickle, as the official files) or .npz model file."""
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=True) as z:
                data = {k: z[k] for k in z.files}
        else:
            with path.open("rb") as fh:
                data = pickle.load(fh, encoding="latin1")
    except ModuleNotFoundError as e:
        raise ValueError(
            f"{path} needs the Python package {e.name!r} to be read (the original SMPL "
            "files store chumpy objects); install it or use the .npz version of the model"
        ) from None
    except Exception as e:  # a damaged or foreign file: say which file, keep the cause
        raise ValueError(f"{path} is not a readable SMPL model file ({e})") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a SMPL model file (it holds a {type(data).__name__})")
    missing = [k for k in REQUIRED_ARRAYS if k not in data]
    if missing:
        raise ValueError(f"{path} is not a SMPL model file: it lacks {', '.join(missing)}")
    return data


class SMPLBody:
    """An ``smplx`` body model loaded from the user's folder.

    Args:
        folder: folder with the model files (see the module docstring).
        model_type: "smpl", "smplx" or "auto".
        gender: "neutral", "female" or "male".
        num_betas: shape coefficients used (at most what the file holds).
    Attributes:
        path: the file loaded. model_type: "smpl" or "smplx".
        faces: (F, 3) int64 triangles. vertex_parts: (V,) int64 Sapiens class per vertex.
        vertex_bones: (V,) int64 SMPL joint (0..23) of each vertex's largest weight.
    """

    def __init__(
        self,
        folder: str | Path,
        model_type: str = "auto",
        gender: str = "neutral",
        num_betas: int = 10,
    ) -> None:
        import smplx
        from smplx.utils import Struct

        self.path, self.model_type = find_model_file(folder, model_type, gender)
        data = _read_arrays(self.path)
        n_joints = np.asarray(data["kintree_table"]).shape[-1]
        if n_joints != NUM_JOINTS[self.model_type]:
            raise ValueError(
                f"{self.path} has {n_joints} joints; a {_PREFIX[self.model_type]} model has "
                f"{NUM_JOINTS[self.model_type]}"
            )
        quiet = contextlib.redirect_stdout(io.StringIO())  # smplx prints shape-space notes
        with quiet:
            if self.model_type == "smpl":
                model = smplx.SMPL(
                    str(self.path), data_struct=Struct(**data), gender=gender, num_betas=num_betas
                )
            else:
                model = smplx.SMPLX(
                    str(self.path),
                    gender=gender,
                    num_betas=num_betas,
                    ext=self.path.suffix[1:],
                    use_pca=False,
                    flat_hand_mean=True,
                )
        self._model = model.eval()
        self.faces = np.asarray(model.faces, dtype=np.int64)
        weights = model.lbs_weights.detach().cpu().numpy()
        top = weights.argmax(axis=1)
        self.vertex_parts = JOINT_PARTS[self.model_type][top]
        self.vertex_bones = _as_smpl_joint(top, self.model_type)

    @property
    def num_betas(self) -> int:
        return int(self._model.num_betas)

    def _full_pose(self, pose: torch.Tensor) -> torch.Tensor:
        """(24, 3) SMPL-order pose -> (1, J*3) pose of this model (SMPL-X: SMPL's hand
        joints dropped, jaw, eyes and fingers at rest)."""
        if self.model_type == "smpl":
            return pose.reshape(1, -1)
        full = torch.zeros(NUM_JOINTS["smplx"], 3, dtype=pose.dtype)
        full[:22] = pose[:22]
        return full.reshape(1, -1)

    @torch.no_grad()
    def _lbs(self, betas: torch.Tensor, pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from smplx.lbs import lbs

        m = self._model
        verts, joints = lbs(
            betas[None], self._full_pose(pose), m.v_template, m.shapedirs, m.posedirs,
            m.J_regressor, m.parents, m.lbs_weights,
        )  # fmt: skip
        return verts[0], joints[0]

    def vertices_and_joints(
        self, params: BodyParams, betas: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The posed body in the model frame.

        Args:
            params: pose (24, 3) and transl (3,) are used; shape[0] (height) scales the body.
            betas: (num_betas,) SMPL shape coefficients, zeros by default.
        Returns:
            vertices: (V, 3) float32. joints: (24, 3) float32 in SMPL's joint order.
        """
        b = torch.zeros(self.num_betas) if betas is None else torch.as_tensor(betas).float()
        if b.shape != (self.num_betas,):
            raise ValueError(f"betas has shape {tuple(b.shape)}, expected ({self.num_betas},)")
        pose = torch.as_tensor(params.pose, dtype=torch.float32).detach().reshape(24, 3)
        rest_v, rest_j = self._lbs(b, torch.zeros(24, 3))
        verts, joints = self._lbs(b, pose)
        lo, hi = rest_v[:, 1].min(), rest_v[:, 1].max()
        centre = torch.stack([rest_j[0, 0], (lo + hi) / 2, rest_j[0, 2]])
        height = 1.0 + 0.05 * float(torch.as_tensor(params.shape)[0])
        scale = height / float(hi - lo)
        if self.model_type == "smplx":
            idx = list(range(22)) + [_SMPLX_HAND[22], _SMPLX_HAND[23]]
            joints = joints[idx]
        transl = torch.as_tensor(params.transl, dtype=torch.float32).detach()
        to_model = lambda p: ((p - centre) * scale + transl).numpy().astype(np.float32)  # noqa: E731
        return to_model(verts), to_model(joints)

    def joints(self, params: BodyParams, betas: np.ndarray | None = None) -> np.ndarray:
        """(24, 3) float32 posed joints, model frame, SMPL order."""
        return self.vertices_and_joints(params, betas)[1]

    def sample_surface(
        self, params: BodyParams, n: int, seed: int = 0, betas: np.ndarray | None = None
    ) -> SurfaceSamples:
        """``n`` points spread uniformly by area over the posed surface.

        Returns:
            SurfaceSamples (torch, like the mannequin's) with points (n, 3), outward normals
            (n, 3), part (n,) int64, rgb (n, 3) (the plain skin tone: SMPL has no texture)
            and area (n,) (each sample's share of the surface, model units squared).
        """
        verts, _ = self.vertices_and_joints(params, betas)
        v = verts.astype(np.float64)
        tri = v[self.faces]  # (F, 3, 3)
        cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        twice_area = np.linalg.norm(cross, axis=1)
        total = 0.5 * float(twice_area.sum())
        rng = np.random.default_rng(seed)
        face = rng.choice(len(self.faces), size=n, p=twice_area / twice_area.sum())
        r1, r2 = rng.random(n), rng.random(n)
        s = np.sqrt(r1)
        bary = np.stack([1 - s, s * (1 - r2), s * r2], axis=1)  # uniform on a triangle
        points = (tri[face] * bary[:, :, None]).sum(axis=1)
        normals = cross[face] / np.maximum(twice_area[face], 1e-20)[:, None]
        corner = self.faces[face, bary.argmax(axis=1)]
        return SurfaceSamples(
            points=torch.from_numpy(points.astype(np.float32)),
            normals=torch.from_numpy(normals.astype(np.float32)),
            part=torch.from_numpy(self.vertex_parts[corner].astype(np.int64)),
            rgb=torch.tensor(SKIN_RGB, dtype=torch.float32).repeat(n, 1),
            area=torch.full((n,), total / n, dtype=torch.float32),
            bone=torch.from_numpy(self.vertex_bones[corner]),
        )

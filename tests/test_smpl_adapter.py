"""SMPL adapter: tiny synthetic SMPL / SMPL-X models written in smplx's on-disk layout."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("smplx")

from humancrafter.body.mannequin import BodyParams  # noqa: E402
from humancrafter.body.skeleton import JOINT_IDS, PARENTS, forward_kinematics  # noqa: E402
from humancrafter.body.skeleton import rest_joints as mannequin_rest  # noqa: E402
from humancrafter.portable.parts import PART_IDS  # noqa: E402
from humancrafter.smpl_adapter import (  # noqa: E402
    JOINT_PARTS,
    SMPLBody,
    SMPLFilesMissing,
    expected_files,
)

# Unit cube [-1, 1] x [0, 1] x [-1, 1]: corners by bits (x, y, z); faces fixed outward below.
_CUBE = np.array([[x, y, z] for x in (-1, 1) for y in (0, 1) for z in (-1, 1)], np.float64)
_QUADS = ((0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3))


def _box(a: np.ndarray, b: np.ndarray, half: float) -> tuple[np.ndarray, np.ndarray]:
    """8 vertices and 12 outward triangles of a box of half-width ``half`` from a to b."""
    d = b - a
    if np.linalg.norm(d) < 1e-9:  # a leaf: a small cube around a
        a, d = a - np.array([0, half, 0]), np.array([0, 2 * half, 0])
    u = np.cross(d, [0.0, 0.0, 1.0])
    if np.linalg.norm(u) < 1e-9:
        u = np.cross(d, [1.0, 0.0, 0.0])
    u = half * u / np.linalg.norm(u)
    v = half * np.cross(d, u) / np.linalg.norm(np.cross(d, u))
    verts = a + _CUBE @ np.stack([u, d, v])
    centre = verts.mean(axis=0)
    tris = []
    for q in _QUADS:
        for t in ((q[0], q[1], q[2]), (q[0], q[2], q[3])):
            p = verts[list(t)]
            n = np.cross(p[1] - p[0], p[2] - p[0])
            tris.append(t if n @ (p.mean(axis=0) - centre) > 0 else t[::-1])
    return verts, np.array(tris)


def _smplx_parents() -> list[int]:
    parents = list(PARENTS[:22]) + [15, 15, 15]  # jaw, eyes on the head
    for wrist in (20, 21):  # 5 fingers x 3 joints per hand
        for _ in range(5):
            parents += [wrist, len(parents), len(parents) + 1]
    return parents


def write_model(folder: Path, model_type: str = "smpl", ext: str = "pkl", seed: int = 0) -> Path:
    """A tiny valid SMPL (24 joints) or SMPL-X (55 joints) model: one box per bone plus a
    tiny cube at each joint that the joint regressor averages, rigidly skinned.

    The rest joints are the mannequin's average body in metres (x1.7, feet at y = -1.05)."""
    rng = np.random.default_rng(seed)
    rest24 = mannequin_rest(torch.zeros(10)).numpy().astype(np.float64) * 1.7
    rest24[:, 1] -= 0.2
    if model_type == "smpl":
        parents, joints = list(PARENTS), rest24
    else:
        parents = _smplx_parents()
        extra = [rest24[15] + [0, -0.05, 0.05], rest24[15] + [0.03, 0.03, 0.08]]
        extra.append(rest24[15] + [-0.03, 0.03, 0.08])
        for wrist, sign in ((20, 1.0), (21, -1.0)):
            for f in range(5):
                for k in range(3):
                    extra.append(rest24[wrist] + [sign * (0.03 + 0.025 * k), 0, 0.02 * (f - 2)])
        joints = np.concatenate([rest24[:22], np.array(extra)])
    J = len(parents)
    children = {j: [c for c in range(J) if parents[c] == j] for j in range(J)}
    verts, faces, weights_of = [], [], []
    for j in range(J):
        end = joints[children[j][0]] if children[j] else joints[j]
        for a, b, half in (
            (joints[j], end, 0.012 if j >= 25 else 0.04),
            (joints[j], joints[j], 0.004),
        ):
            v, f = _box(a, b, half)
            faces.append(f + sum(len(x) for x in verts))
            verts.append(v)
            weights_of += [j] * len(v)
    v_template = np.concatenate(verts)
    V = len(v_template)
    weights = np.zeros((V, J))
    weights[np.arange(V), weights_of] = 1.0
    J_regressor = np.zeros((J, V))
    for j in range(J):
        marker = 16 * j + 8 + np.arange(8)  # the second (tiny) cube of joint j
        J_regressor[j, marker] = 1.0 / 8
    data = {
        "v_template": v_template,
        "shapedirs": rng.normal(0, 0.002, (V, 3, 10 if model_type == "smpl" else 20)),
        "posedirs": rng.normal(0, 1e-4, (V, 3, (J - 1) * 9)),
        "J_regressor": J_regressor,
        "weights": weights,
        "kintree_table": np.array([[4294967295] + parents[1:], list(range(J))], np.int64),
        "f": np.concatenate(faces).astype(np.uint32),
    }
    if model_type == "smplx":
        data.update(
            hands_componentsl=np.eye(45), hands_componentsr=np.eye(45),
            hands_meanl=np.zeros(45), hands_meanr=np.zeros(45),
            lmk_faces_idx=np.zeros(51, np.int64), lmk_bary_coords=np.full((51, 3), 1 / 3),
        )  # fmt: skip
    name = f"{'SMPL' if model_type == 'smpl' else 'SMPLX'}_NEUTRAL.{ext}"
    path = folder / model_type / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if ext == "npz":
        np.savez(path, **data)
    else:
        with path.open("wb") as fh:
            pickle.dump(data, fh, protocol=2)
    return path


def test_missing_files_are_listed(tmp_path):
    with pytest.raises(SMPLFilesMissing) as e:
        SMPLBody(tmp_path, model_type="smpl")
    expected = [
        tmp_path / "SMPL_NEUTRAL.pkl", tmp_path / "SMPL_NEUTRAL.npz",
        tmp_path / "smpl" / "SMPL_NEUTRAL.pkl", tmp_path / "smpl" / "SMPL_NEUTRAL.npz",
    ]  # fmt: skip
    assert expected_files(tmp_path, "smpl") == expected
    for path in expected:
        assert str(path) in str(e.value)
    with pytest.raises(SMPLFilesMissing) as e:
        SMPLBody(tmp_path)  # auto: both model types listed
    assert "SMPLX_NEUTRAL.npz" in str(e.value) and "SMPL_NEUTRAL.pkl" in str(e.value)
    with pytest.raises(SMPLFilesMissing, match="does not exist"):
        SMPLBody(tmp_path / "nowhere")


def test_bad_files_are_named(tmp_path):
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    with path.open("wb") as fh:
        pickle.dump({"v_template": np.zeros((3, 3))}, fh)
    with pytest.raises(ValueError, match="lacks shapedirs, posedirs"):
        SMPLBody(tmp_path)
    path.write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="not a readable SMPL model file"):
        SMPLBody(tmp_path)


@pytest.mark.parametrize("ext", ["pkl", "npz"])
def test_rest_pose_matches_model_frame(tmp_path, ext):
    write_model(tmp_path, "smpl", ext)
    body = SMPLBody(tmp_path, gender="neutral")
    assert body.model_type == "smpl" and body.path.suffix == f".{ext}"
    verts, joints = body.vertices_and_joints(BodyParams.neutral())
    assert verts[:, 1].max() - verts[:, 1].min() == pytest.approx(1.0, abs=1e-5)
    assert verts[:, 1].max() + verts[:, 1].min() == pytest.approx(0.0, abs=1e-5)
    assert joints.shape == (24, 3) and abs(joints[0, 0]) < 1e-6 and abs(joints[0, 2]) < 1e-6
    # The mannequin's skeleton, scaled like the SMPL body: same joints up to scale/offset.
    ref = mannequin_rest(torch.zeros(10)).numpy()
    ratio = (joints[JOINT_IDS["head"], 1] - joints[0, 1]) / (ref[JOINT_IDS["head"], 1] - ref[0, 1])
    np.testing.assert_allclose((joints - joints[0]) / ratio, ref - ref[0], atol=1e-5)
    # Taller shape parameter: 1 + 0.05 * shape[0] units tall.
    tall = BodyParams.neutral()
    tall.shape[0] = 2.0
    verts, _ = body.vertices_and_joints(tall)
    assert verts[:, 1].max() - verts[:, 1].min() == pytest.approx(1.1, abs=1e-5)


def test_pose_follows_the_mannequin_convention(tmp_path):
    write_model(tmp_path, "smpl")
    body = SMPLBody(tmp_path)
    params = BodyParams.neutral()
    rest = torch.as_tensor(body.joints(params))
    params.pose[JOINT_IDS["left_shoulder"]] = torch.tensor([0.0, 0.0, -1.3])  # arm down
    params.pose[JOINT_IDS["left_elbow"]] = torch.tensor([0.0, -1.2, 0.0])  # bend forward
    params.pose[JOINT_IDS["right_knee"]] = torch.tensor([1.0, 0.0, 0.0])
    params.pose[0] = torch.tensor([0.0, math.pi / 4, 0.0])
    params.transl[:] = torch.tensor([0.1, -0.2, 0.3])
    posed = body.joints(params)
    _, expected = forward_kinematics(params.pose, rest)
    np.testing.assert_allclose(posed, (expected + params.transl).numpy(), atol=2e-3)
    # Arm down means the left wrist is now below the shoulder.
    assert posed[JOINT_IDS["left_wrist"], 1] < posed[JOINT_IDS["left_shoulder"], 1] - 0.1


def test_surface_samples(tmp_path):
    write_model(tmp_path, "smpl")
    body = SMPLBody(tmp_path)
    params = BodyParams.neutral()
    s = body.sample_surface(params, 4000, seed=3)
    s = {k: getattr(s, k).numpy() for k in ("points", "normals", "part", "area")}
    s = type("S", (), s)
    assert s.points.shape == (4000, 3) and s.normals.shape == (4000, 3)
    np.testing.assert_allclose(np.linalg.norm(s.normals, axis=1), 1.0, atol=1e-5)
    # Every sample lies on the posed mesh: within the bounding box of the vertices.
    verts, _ = body.vertices_and_joints(params)
    assert (s.points >= verts.min(0) - 1e-5).all() and (s.points <= verts.max(0) + 1e-5).all()
    # Labels by dominant skinning joint: a sample far out on the left arm is Left_Hand or
    # Left_Lower_Arm; the head top is Face_Neck; the parts seen are the 12 skin classes.
    left = s.points[:, 0] > verts[:, 0].max() - 0.03
    assert set(s.part[left].tolist()) <= {PART_IDS["Left_Hand"]}
    assert s.part[s.points[:, 1].argmax()] == PART_IDS["Face_Neck"]
    assert set(s.part.tolist()) == set(JOINT_PARTS["smpl"].tolist())
    # Uniform by area: the samples' areas add up to the surface area.
    tri = verts[body.faces].astype(np.float64)
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    assert s.area.sum() == pytest.approx(area.sum(), rel=1e-4)
    again = body.sample_surface(params, 4000, seed=3)
    np.testing.assert_array_equal(s.points, again.points)
    assert not np.array_equal(s.points, body.sample_surface(params, 4000, seed=4).points)


def test_smplx_model(tmp_path):
    write_model(tmp_path, "smplx", "npz")
    body = SMPLBody(tmp_path, model_type="auto")
    assert body.model_type == "smplx"
    params = BodyParams.neutral()
    params.pose[JOINT_IDS["left_elbow"]] = torch.tensor([0.0, -1.0, 0.0])
    joints = body.joints(params)
    assert joints.shape == (24, 3) and np.isfinite(joints).all()
    parts = set(body.sample_surface(params, 3000, seed=0).part.tolist())
    assert {PART_IDS["Left_Hand"], PART_IDS["Right_Hand"], PART_IDS["Face_Neck"]} <= parts
    # SMPL's hand joint stands in for the middle finger's base, past the wrist.
    assert joints[JOINT_IDS["left_hand"], 0] > joints[JOINT_IDS["left_wrist"], 0] - 1e-3

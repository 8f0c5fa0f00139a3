"""The mannequin: skeleton, forward kinematics, joint limits, surface sampling, layers, poses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from humancrafter.body.appearance import Appearance, Material, MaterialTable, albedo
from humancrafter.body.mannequin import (
    BodyParams,
    build_primitives,
    joints,
    round_cone_sdf,
    sample_surface,
)
from humancrafter.body.poses import POSE_KINDS, sample_pose
from humancrafter.body.skeleton import (
    JOINT_IDS,
    JOINT_LIMITS,
    JOINT_NAMES,
    MIRROR_JOINTS,
    PARENTS,
    axis_angle_to_matrix,
    forward_kinematics,
    limit_violation,
    matrix_to_axis_angle,
    rest_joints,
)
from humancrafter.portable.parts import MIRROR, PART_IDS, PART_NAMES

SMPL_ORDER = (
    "pelvis left_hip right_hip spine1 left_knee right_knee spine2 left_ankle right_ankle spine3 "
    "left_foot right_foot neck left_collar right_collar head left_shoulder right_shoulder "
    "left_elbow right_elbow left_wrist right_wrist left_hand right_hand"
).split()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_skeleton_is_smpl_ordered_tree():
    assert JOINT_NAMES == tuple(SMPL_ORDER)
    assert len(PARENTS) == 24 and PARENTS[0] == -1
    assert all(0 <= PARENTS[j] < j for j in range(1, 24))
    for j, m in enumerate(MIRROR_JOINTS):
        assert JOINT_NAMES[m] == JOINT_NAMES[j].replace("left", "X").replace(
            "right", "left"
        ).replace("X", "right")
    assert JOINT_LIMITS.shape == (24, 3, 2)
    assert (JOINT_LIMITS[..., 0] <= JOINT_LIMITS[..., 1]).all()


def test_neutral_body_frame_and_size():
    p = BodyParams.neutral()
    J = joints(p)
    ids = JOINT_IDS
    # Person's left is +x, up is +y; T-pose arms along x.
    assert J[ids["left_hand"], 0] > 0.4 and J[ids["right_hand"], 0] < -0.4
    assert J[ids["head"], 1] > J[ids["neck"], 1] > J[ids["pelvis"], 1] > J[ids["left_knee"], 1]
    # Feet point forward (+z), the nose too.
    assert J[ids["left_foot"], 2] > J[ids["left_ankle"], 2] + 0.05
    box = build_primitives(p, Appearance.plain()).world_aabb()
    lo, hi = box[:, 0].min(0).values, box[:, 1].max(0).values
    assert abs(float(lo[1]) + 0.5) < 0.02 and abs(float(hi[1]) - 0.5) < 0.02
    s = sample_surface(p, Appearance(hair="bald", top="none"), 4000)
    face = s.points[s.part == PART_IDS["Face_Neck"]]
    nose_tip = face[face[:, 2].argmax()]
    assert nose_tip[1] > 0.35 and nose_tip[2] > 0.05


def test_axis_angle_round_trip_and_rotation():
    aa = torch.randn(50, 3)
    aa = aa / aa.norm(dim=-1, keepdim=True) * torch.rand(50, 1) * 3.0
    R = axis_angle_to_matrix(aa)
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3).expand(50, 3, 3), atol=1e-5)
    assert torch.allclose(torch.linalg.det(R), torch.ones(50), atol=1e-5)
    assert torch.allclose(matrix_to_axis_angle(R), aa, atol=1e-4)
    # 90 degrees about y takes +x to -z.
    Ry = axis_angle_to_matrix(torch.tensor([0.0, math.pi / 2, 0.0]))
    assert torch.allclose(Ry @ torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 0, -1]), atol=1e-6)


def test_forward_kinematics_is_rigid_and_differentiable():
    rng = np.random.default_rng(0)
    shape = torch.tensor(rng.normal(0, 1, 10), dtype=torch.float32)
    rest = rest_joints(shape)
    pose = (torch.rand(24, 3) - 0.5) * 1.5
    pose.requires_grad_(True)
    rots, posed = forward_kinematics(pose, rest)
    for j in range(1, 24):
        a = (posed[j] - posed[PARENTS[j]]).detach().norm()
        b = (rest[j] - rest[PARENTS[j]]).norm()
        assert abs(float(a - b)) < 1e-5
    posed.sum().backward()
    assert torch.isfinite(pose.grad).all() and pose.grad.abs().sum() > 0
    # Zero pose gives the rest skeleton; the root rotation turns the whole body.
    _, at_rest = forward_kinematics(torch.zeros(24, 3), rest)
    assert torch.allclose(at_rest, rest, atol=1e-6)
    turn = torch.zeros(24, 3)
    turn[0, 1] = math.pi
    _, turned = forward_kinematics(turn, rest)
    rel = turned - turned[0]
    assert torch.allclose(rel[:, 0], -(rest - rest[0])[:, 0], atol=1e-5)
    assert torch.allclose(rel[:, 2], -(rest - rest[0])[:, 2], atol=1e-5)


def test_shape_parameters_change_what_they_say():
    base = rest_joints(torch.zeros(10))
    ids = JOINT_IDS

    def changed(i: int, v: float = 1.5) -> torch.Tensor:
        s = torch.zeros(10)
        s[i] = v
        return rest_joints(s)

    tall = changed(0)
    assert float(tall[ids["head"], 1] - tall[ids["left_ankle"], 1]) > float(
        base[ids["head"], 1] - base[ids["left_ankle"], 1]
    )
    legs = changed(2)
    assert float(legs[ids["left_hip"], 1] - legs[ids["left_ankle"], 1]) > 1.05 * float(
        base[ids["left_hip"], 1] - base[ids["left_ankle"], 1]
    )
    arms = changed(3)
    assert arms[ids["left_wrist"], 0] - arms[ids["left_shoulder"], 0] > 1.05 * (
        base[ids["left_wrist"], 0] - base[ids["left_shoulder"], 0]
    )
    assert changed(4)[ids["left_shoulder"], 0] > base[ids["left_shoulder"], 0]
    assert changed(5)[ids["left_hip"], 0] > base[ids["left_hip"], 0]
    # Girth only changes the surface, not the skeleton.
    assert torch.allclose(changed(1), base)
    heavy = BodyParams(torch.zeros(10), torch.zeros(24, 3), torch.zeros(3))
    heavy.shape[1] = 2.0
    area_heavy = float(sample_surface(heavy, Appearance.plain(), 3000).area.sum())
    area_base = float(sample_surface(BodyParams.neutral(), Appearance.plain(), 3000).area.sum())
    assert area_heavy > 1.05 * area_base


def test_limits_penalty():
    pose = torch.zeros(24, 3)
    assert float(limit_violation(pose).abs().sum()) == 0.0
    pose[JOINT_IDS["left_knee"], 0] = -0.5  # a knee bending forwards
    assert float(limit_violation(pose)[JOINT_IDS["left_knee"], 0]) == pytest.approx(0.5)
    # Right-side limits mirror the left ones.
    lk, rk = JOINT_IDS["left_elbow"], JOINT_IDS["right_elbow"]
    assert torch.allclose(JOINT_LIMITS[rk, 1], -JOINT_LIMITS[lk, 1].flip(-1))


def test_sample_surface_outputs():
    p = BodyParams.neutral()
    app = Appearance.sample(np.random.default_rng(1))
    s = sample_surface(p, app, 5000, seed=3)
    assert s.points.shape == (5000, 3) and s.normals.shape == (5000, 3)
    assert s.part.dtype == torch.int64 and s.part.shape == (5000,)
    assert torch.allclose(s.normals.norm(dim=-1), torch.ones(5000), atol=1e-4)
    assert (s.rgb >= 0).all() and (s.rgb <= 1).all()
    assert (s.part > 0).all() and (s.part < len(PART_NAMES)).all()
    assert 0.5 < float(s.area.sum()) < 1.2  # a ~1 unit tall person's skin + clothes
    # Deterministic per seed, different across seeds.
    again = sample_surface(p, app, 5000, seed=3)
    assert torch.equal(again.points, s.points) and torch.equal(again.part, s.part)
    other = sample_surface(p, app, 5000, seed=4)
    assert not torch.equal(other.points, s.points)


def test_samples_lie_on_the_outermost_surface():
    """Just outside each sample is outside every primitive; just inside is inside one."""
    p = BodyParams.neutral()
    p.pose[JOINT_IDS["left_shoulder"], 2] = -1.2
    app = Appearance(top="tshirt", bottom="shorts", jacket=True, hair="long", socks="crew")
    prims = build_primitives(p, app)
    s = sample_surface(p, app, 3000, seed=0)
    P = len(prims)
    eps = 2e-3

    def inside_any(x: torch.Tensor) -> torch.Tensor:
        idx = torch.arange(P).repeat(x.shape[0])
        pts = x.repeat_interleave(P, dim=0)
        return prims.inside(pts, idx).view(x.shape[0], P).any(-1)

    with torch.no_grad():
        out = inside_any(s.points + eps * s.normals)
        inn = inside_any(s.points - eps * s.normals)
    assert float(out.float().mean()) < 0.01
    assert float(inn.float().mean()) > 0.97


def test_points_follow_the_parameters():
    p = BodyParams.neutral()
    p.transl = torch.tensor([0.1, 0.0, 0.0], requires_grad=True)
    s = sample_surface(p, Appearance.plain(), 500)
    s.points[:, 0].sum().backward()
    assert float(p.transl.grad[0]) == pytest.approx(500.0)
    base = sample_surface(BodyParams.neutral(), Appearance.plain(), 500)
    assert torch.allclose(s.points.detach() - base.points, torch.tensor([0.1, 0, 0]), atol=1e-5)


def _parts(app: Appearance, n: int = 6000, pose: torch.Tensor | None = None) -> set[str]:
    p = BodyParams.neutral()
    if pose is not None:
        p.pose = pose
    return {PART_NAMES[i] for i in sample_surface(p, app, n).part.unique().tolist()}


def test_layers_hide_what_is_beneath():
    bare = _parts(Appearance(top="none", bottom="shorts", hair="bald", shoes="none"))
    assert {"Torso", "Left_Upper_Leg", "Left_Foot", "Right_Foot", "Face_Neck"} <= bare
    assert "Hair" not in bare and "Upper_Clothing" not in bare
    dressed = _parts(Appearance(top="longsleeve", bottom="trousers", shoes="boots"))
    assert {"Upper_Clothing", "Lower_Clothing", "Left_Shoe", "Right_Shoe", "Hair"} <= dressed
    # Long sleeves hide the upper arms, trousers the thighs, shoes the feet.
    assert not {"Left_Upper_Arm", "Right_Upper_Arm", "Left_Upper_Leg", "Left_Foot"} & dressed
    socks = _parts(Appearance(shoes="none", socks="knee", bottom="shorts"))
    assert {"Left_Sock", "Right_Sock"} <= socks and "Left_Foot" not in socks
    jacket = _parts(Appearance(jacket=True, top="tshirt"))
    assert "Apparel" in jacket and "Upper_Clothing" in jacket  # the open front shows the top
    skirt = _parts(Appearance(bottom="skirt", bottom_length=0.4))
    assert "Lower_Clothing" in skirt and "Left_Lower_Leg" in skirt


def test_left_parts_are_on_the_left():
    p = BodyParams.neutral()
    s = sample_surface(p, Appearance(top="tank", bottom="shorts", shoes="none"), 6000)
    for name in ("Left_Upper_Arm", "Left_Lower_Arm", "Left_Hand", "Left_Upper_Leg", "Left_Foot"):
        left = s.points[s.part == PART_IDS[name]]
        right = s.points[s.part == int(MIRROR[PART_IDS[name]])]
        assert len(left) > 10 and len(right) > 10
        assert (left[:, 0] > 0).all() and (right[:, 0] < 0).all()


def test_at_least_20_classes_across_outfits():
    seen: set[str] = {"Background"}
    rng = np.random.default_rng(0)
    for _ in range(10):
        seen |= _parts(Appearance.sample(rng), 4000)
    assert len(seen) >= 20, sorted(seen)


def test_appearance_sampling_varies_and_validates():
    apps = [Appearance.sample(np.random.default_rng(i)) for i in range(30)]
    assert len({a.top for a in apps}) >= 3 and len({a.hair for a in apps}) >= 4
    assert len({a.materials["top"].pattern for a in apps}) >= 3
    skins = np.array([a.materials["skin"].color1 for a in apps])
    assert skins.mean(-1).max() - skins.mean(-1).min() > 0.3  # light to dark skin
    with pytest.raises(ValueError, match="unknown top"):
        Appearance(top="cape")
    assert Appearance.plain().to_json()["top"] == "tshirt"


@pytest.mark.parametrize(
    "look, part",
    [
        ({"hat": "cap"}, "Apparel"),
        ({"hat": "beanie"}, "Apparel"),
        ({"hat": "brim"}, "Apparel"),
        ({"held": "handbag", "held_side": "left"}, "Apparel"),
        ({"held": "shoulder_bag"}, "Apparel"),
        ({"held": "bottle"}, "Apparel"),
        ({"held": "phone"}, "Apparel"),
        ({"top": "tshirt", "jacket": True, "coat": 0.7}, "Apparel"),
        ({"hair": "afro", "hat": "brim"}, "Hair"),
    ],
)
def test_wardrobe_builds_and_shows(look, part):
    """Every wardrobe option makes finite primitives and shows its part on the surface."""
    app = Appearance(**look)
    prims = build_primitives(BodyParams.neutral(), app)
    assert torch.isfinite(prims.to_local).all() and torch.isfinite(prims.world_aabb()).all()
    assert part in _parts(app, 6000)


def test_coat_and_belly_change_the_silhouette():
    """A long coat flares below the hips; a belly pushes the front out."""

    def surface(**look):
        return sample_surface(BodyParams.neutral(), Appearance(**look), 6000).points

    def knee_width(pts):  # widest point between mid-thigh and the knee
        return float(pts[(pts[:, 1] < -0.1) & (pts[:, 1] > -0.2), 0].abs().max())

    def belly_front(pts):
        return float(pts[(pts[:, 1] > 0.0) & (pts[:, 1] < 0.15), 2].max())

    plain = surface()
    assert knee_width(surface(jacket=True, coat=0.8)) > knee_width(plain) + 0.03
    assert belly_front(surface(belly=1.0)) > belly_front(plain) + 0.04


def test_new_wardrobe_is_sampled():
    apps = [Appearance.sample(np.random.default_rng(i)) for i in range(300)]
    assert {a.hat for a in apps} == {"none", "cap", "beanie", "brim"}
    assert {a.held for a in apps} >= {"handbag", "shoulder_bag", "bottle", "phone"}
    assert any(a.coat > 0 for a in apps) and any(a.belly > 0 for a in apps)
    assert any(a.dress and a.materials["top"] == a.materials["bottom"] for a in apps)
    assert {"print", "logo"} <= {a.materials["top"].pattern for a in apps}
    assert "afro" in {a.hair for a in apps}


def test_a_dress_is_one_garment():
    print_ = Material("print", (0.9, 0.3, 0.4), (0.95, 0.9, 0.9), 40.0)
    dress = Appearance(top="tshirt", bottom="skirt", dress=True, materials={"top": print_})
    assert dress.materials["bottom"] is print_
    with pytest.raises(ValueError, match="needs both"):
        Appearance(dress=True)  # trousers


def test_logo_and_print():
    logo = Material("logo", (1, 1, 1), (1, 0, 0), 1 / 0.03, grain=0.0, centre=(0.0, 0.22, 0.06))
    pr = Material("print", (1, 1, 1), (0, 0, 0), 30.0, grain=0.0)
    table = MaterialTable.of(Appearance(materials={"top": logo, "bottom": pr}))
    pts = torch.tensor([[0.0, 0.22, 0.065], [0.0, 0.3, 0.065], [0.0, 0.22, -0.07]])
    top = albedo(table, torch.full((3,), 4), pts)
    assert top[0].tolist() == [1, 0, 0]  # the disc on the chest
    assert top[1].tolist() == [1, 1, 1] and top[2].tolist() == [1, 1, 1]  # off it; the back
    y = torch.linspace(-0.5, 0.5, 400)
    grid = torch.stack([torch.zeros_like(y), y, torch.zeros_like(y)], -1)
    values = set(albedo(table, torch.full((400,), 5), grid)[:, 0].tolist())
    assert values == {0.0, 1.0}  # sharp-edged, both colours


def test_textures():
    table = MaterialTable.of(
        Appearance(
            materials={
                "top": Material("stripes", (1, 0, 0), (0, 0, 1), 10.0, (0, 1, 0), 0.0),
                "bottom": Material("checks", (1, 1, 1), (0, 0, 0), 10.0, grain=0.0),
            }
        )
    )
    y = torch.linspace(0, 1, 200)
    p = torch.stack([torch.zeros_like(y), y, torch.zeros_like(y)], -1)
    top = albedo(table, torch.full((200,), 4), p)
    assert top[:, 0].min() < 0.1 and top[:, 0].max() > 0.9  # alternating red and blue
    flips = (top[1:, 0] - top[:-1, 0]).abs() > 0.5
    assert 15 <= int(flips.sum()) <= 25  # 10 cycles per unit
    checks = albedo(table, torch.full((200,), 5), p)
    assert set(checks[:, 0].round().tolist()) == {0.0, 1.0}


def test_round_cone_sdf():
    L, r0, r1 = torch.tensor([0.5]), torch.tensor([0.2]), torch.tensor([0.1])
    pts = torch.tensor([[0.0, -0.2, 0.0], [0.0, 0.6, 0.0], [0.0, 0.25, 0.0], [0.3, 0.0, 0.0]])
    d = round_cone_sdf(pts, L.expand(4), r0.expand(4), r1.expand(4))
    assert d[0].abs() < 1e-6 and d[1].abs() < 1e-6  # the end caps
    assert d[2] < -0.1 and d[3] == pytest.approx(0.1, abs=1e-5)
    sphere = round_cone_sdf(torch.tensor([[0.0, 0.0, 0.5]]), torch.zeros(1), r0, r0)
    assert float(sphere) == pytest.approx(0.3)


@pytest.mark.parametrize("kind", POSE_KINDS)
def test_pose_sampler(kind):
    ids = JOINT_IDS
    for seed in range(4):
        pose, got = sample_pose(np.random.default_rng(seed), kind)
        assert got == kind and pose.shape == (24, 3)
        assert float(limit_violation(pose).abs().max()) == 0.0
        p = BodyParams(torch.zeros(10), pose, torch.zeros(3))
        J = joints(p)
        shoulders_y = float(J[[ids["left_shoulder"], ids["right_shoulder"]], 1].mean())
        wrists_y = J[[ids["left_wrist"], ids["right_wrist"]], 1]
        knee_z = float(J[[ids["left_knee"], ids["right_knee"]], 2].mean())
        hip_z = float(J[[ids["left_hip"], ids["right_hip"]], 2].mean())
        if kind in ("standing", "walking"):
            assert (wrists_y < shoulders_y).all()
            assert float(J[ids["head"], 1] - J[ids["left_ankle"], 1]) > 0.75
        if kind == "arms_raised":
            assert (wrists_y > shoulders_y).any()
        if kind in ("crouching", "sitting"):
            assert knee_z > hip_z + 0.1  # thighs forward
            assert float(J[ids["head"], 1] - J[ids["left_ankle"], 1]) < 0.85
        _check_hands(kind, J)


def _check_hands(kind: str, J: torch.Tensor) -> None:
    """The hand poses put the wrists where they say (model units, average body)."""
    ids = JOINT_IDS
    lw, rw = J[ids["left_wrist"]], J[ids["right_wrist"]]
    pelvis, head = J[ids["pelvis"]], J[ids["head"]]
    if kind == "hands_on_hips":  # at least one wrist at the side of the waist
        near = [float((w - pelvis)[[0, 1]].abs().sub(torch.tensor([0.115, 0.035])).norm())
                for w in (lw, rw)]  # fmt: skip
        assert min(near) < 0.05, near
    if kind == "hands_in_pockets":
        assert float(lw[1]) < float(pelvis[1]) + 0.03 and float(rw[1]) < float(pelvis[1]) + 0.03
        assert 0.05 < float(lw[0]) < 0.16 and -0.16 < float(rw[0]) < -0.05
    if kind == "hands_clasped":
        assert float((lw - rw).norm()) < 0.07
        assert float((lw + rw)[2]) / 2 > float(pelvis[2]) + 0.07  # in front of the body
    if kind == "hand_to_face":
        assert min(float((lw - head).norm()), float((rw - head).norm())) < 0.15
    if kind == "arms_crossed":
        assert float(lw[0]) < 0.03 and float(rw[0]) > -0.03  # each hand on the other side
    if kind == "bending":
        assert float(head[2] - pelvis[2]) > 0.1  # the torso leans forward


def test_walking_strides():
    ids = JOINT_IDS
    gaps = []
    for seed in range(20):
        pose, _ = sample_pose(np.random.default_rng(seed), "walking")
        J = joints(BodyParams(torch.zeros(10), pose, torch.zeros(3)))
        gaps.append(float((J[ids["left_ankle"], 2] - J[ids["right_ankle"], 2]).abs()))
    assert max(gaps) > 0.15  # legs apart in some phase of the stride


def test_sample_pose_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown pose kind"):
        sample_pose(np.random.default_rng(0), "cartwheel")


def test_body_params_json_round_trip():
    pose, _ = sample_pose(np.random.default_rng(2))
    p = BodyParams(torch.randn(10), pose, torch.randn(3))
    q = BodyParams.from_json(p.to_json())
    assert torch.allclose(q.pose, p.pose, atol=1e-6) and torch.allclose(q.shape, p.shape, atol=1e-6)

"""The part-labelled parametric body ("mannequin"): shape, pose and a surface of analytic
primitives, each labelled with a Sapiens class.

Every primitive is a convex solid: a *round cone* (the convex hull of two spheres; an
ellipsoid is the special case of one sphere) under an affine map, optionally cut by up to
:data:`MAX_PLANES` half-spaces (to end a sleeve, a hem, a hairline, a jacket's front opening).
Clothing, hair, socks and shoes are slightly inflated copies ("covers") of the skin primitives
they lie on, cut where the garment ends, so the body surface is simply the boundary of the
UNION of all primitives: whatever is outermost is what shows, and a layer hides what is
beneath it. :func:`sample_surface` and the ray caster (:mod:`.raycast`) both return that
outermost surface, each point carrying the label of the primitive it lies on.

This module is the mannequin's front door (import from here); the pieces are:

- :mod:`.params`: :class:`BodyParams` (shape, pose, translation) and the posed joints;
- :mod:`.primitives`: the primitive solid and :class:`Primitives`, a posed set of them;
- :mod:`.builder`: rest-pose primitive specs, covers, cutting half-spaces and posing;
- :mod:`.anatomy`: the skin (head, torso, arms, legs) as tables and calls on the builder;
- :mod:`.clothing`: socks, shoes, bottoms, tops, jacket or coat, hair, hats and carried
  things as covers and primitives;
- :mod:`.surface`: sampling the outermost surface;
- :mod:`.appearance`: outfit choices and procedural textures; :mod:`.skeleton`: joints,
  kinematics and the shape parameters.

Frames: the model frame of :mod:`humancrafter.cameras` (y up, ~1 unit tall, facing +z,
person's left = +x). Pose and shape conventions are in :mod:`.skeleton` (zero pose = T-pose).
"""

from __future__ import annotations

import torch

from .anatomy import Proportions, add_skin
from .appearance import Appearance, MaterialTable
from .builder import Builder, Spec, posed_primitives
from .clothing import dress
from .params import BodyParams, joints, posed_skeleton
from .primitives import MAX_PLANES, Primitives, round_cone_sdf
from .skeleton import JOINT_IDS, SHAPE_NAMES, forward_kinematics, rest_joints
from .surface import SurfaceSamples, sample_primitives

__all__ = [
    "Appearance",
    "BodyParams",
    "MAX_PLANES",
    "Primitives",
    "SHAPE_NAMES",
    "SurfaceSamples",
    "build_primitives",
    "centred",
    "joints",
    "posed_skeleton",
    "round_cone_sdf",
    "sample_surface",
]


def rest_specs(shape: torch.Tensor, app: Appearance) -> tuple[list[Spec], torch.Tensor]:
    """Rest-pose primitive specs of a body in an outfit (skin, then the covers of
    :mod:`.clothing`; those hidden inside a cover dropped), and the (24, 3) rest joints."""
    rest = rest_joints(shape)
    J = {n: rest[i] for n, i in JOINT_IDS.items()}
    p = Proportions.of(shape, rest)
    b = Builder()
    add_skin(b, J, p, app.mouth_open, app.belly)
    dress(b, J, app, p)
    return b.visible(), rest


def build_primitives(params: BodyParams, appearance: Appearance) -> Primitives:
    """The posed, dressed primitives of a body (differentiable in shape, pose, transl)."""
    specs, rest = rest_specs(params.shape, appearance)
    rots, posed = forward_kinematics(params.pose, rest)
    posed = posed + params.transl
    return posed_primitives(specs, rest, rots, posed, MaterialTable.of(appearance))


def centred(params: BodyParams, appearance: Appearance) -> BodyParams:
    """A copy of ``params`` whose translation puts the dressed body's vertical extent
    (bounding box of its primitives) centred on y = 0; x and z are left as they are."""
    with torch.no_grad():
        box = build_primitives(params, appearance).world_aabb()
        mid = float(box[:, 0, 1].min() + box[:, 1, 1].max()) / 2
    transl = params.transl.detach().clone()
    transl[1] -= mid
    return BodyParams(params.shape.detach().clone(), params.pose.detach().clone(), transl)


def sample_surface(
    params: BodyParams, appearance: Appearance, n: int, seed: int = 0
) -> SurfaceSamples:
    """``n`` points spread uniformly (by area) over the outermost surface of the dressed body.

    Deterministic for a given ``seed``. Points are differentiable in ``params`` (each is a
    fixed local point of its primitive); labels, colours and areas are not.
    """
    if n <= 0:
        raise ValueError(f"the number of surface samples must be positive, got {n}")
    return sample_primitives(build_primitives(params, appearance), n, seed)

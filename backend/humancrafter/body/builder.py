"""The primitive builder: rest-pose primitive specs by name, the half-spaces that cut them,
and their posing into :class:`~.primitives.Primitives`.

:mod:`.anatomy` adds the skin primitives and :mod:`.clothing` the covers over them: a cover
is a slightly inflated copy of a primitive, cut where the garment ends, so the body surface
is simply the boundary of the union of all primitives (whatever is outermost shows).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch

from ..portable.parts import PART_IDS
from .appearance import MATERIAL_IDS, MaterialTable
from .primitives import MAX_PLANES, Primitives
from .skeleton import JOINT_IDS

Plane = tuple[torch.Tensor, torch.Tensor]
"""A half-space ``normal . x <= offset`` in the rest pose's world frame: (normal (3,), offset)."""


@dataclass
class Spec:
    """One primitive in the rest pose (see :class:`~.primitives.Primitives` for the solid)."""

    name: str
    bone: int
    part: int
    material: int
    frame: torch.Tensor  # (3, 3) orthonormal columns, rest pose
    scale: torch.Tensor  # (3,) local -> world scale per local axis
    origin: torch.Tensor  # (3,) rest pose
    length: torch.Tensor
    r0: torch.Tensor
    r1: torch.Tensor
    planes: list[Plane] = field(default_factory=list)  # world, rest
    hidden: bool = False
    root: str = ""  # the skin primitive a cover (transitively) inflates; "" for skin itself
    offset: float = 0.0  # total inflation over the root, world units


def vec(*xs) -> torch.Tensor:
    """A float32 vector of numbers or 0-d tensors."""
    return torch.stack([torch.as_tensor(x, dtype=torch.float32) for x in xs])


def frame_along(direction: torch.Tensor, hint: torch.Tensor) -> torch.Tensor:
    """(3, 3) orthonormal columns (x, y, z) with y along ``direction`` and z towards ``hint``."""
    y = direction / direction.norm()
    z = hint - (hint @ y) * y
    z = z / z.norm()
    x = torch.linalg.cross(y, z)
    return torch.stack([x, y, z], dim=1)


class Builder:
    """Collects rest-pose primitive specs by name (in the order added, which is the order of
    the primitives)."""

    def __init__(self) -> None:
        self.specs: dict[str, Spec] = {}

    def ellipsoid(self, name, bone, part, mat, centre, radii, frame=None, planes=()) -> None:
        """An ellipsoid with ``radii`` (3,) along the columns of ``frame`` (default: the
        world axes) around ``centre``, moving with joint ``bone``, cut by ``planes``."""
        frame = torch.eye(3) if frame is None else frame
        self.specs[name] = Spec(
            name, JOINT_IDS[bone], PART_IDS[part], MATERIAL_IDS[mat], frame, radii, centre,
            torch.tensor(0.0), torch.tensor(1.0), torch.tensor(1.0), list(planes),
        )  # fmt: skip

    def cone(
        self, name, bone, part, mat, a, b, ra, rb, hint=(0.0, 0.0, 1.0), ex=1.0, ez=1.0, planes=()
    ) -> None:
        """A round cone from ``a`` (radius ``ra``) to ``b`` (radius ``rb``), its cross-section
        stretched by ``ex`` and ``ez`` (local x towards ``hint`` x the axis, z towards
        ``hint``), moving with joint ``bone``, cut by ``planes``."""
        d = b - a
        frame = frame_along(d, torch.tensor(hint, dtype=torch.float32))
        self.specs[name] = Spec(
            name, JOINT_IDS[bone], PART_IDS[part], MATERIAL_IDS[mat], frame, vec(ex, 1.0, ez),
            a, d.norm(), torch.as_tensor(ra), torch.as_tensor(rb), list(planes),
        )  # fmt: skip

    def cover(self, src, name, part, mat, offset, planes=(), hide=False) -> None:
        """An inflated copy of ``src`` (by ``offset`` world units), cut by ``planes`` (and by
        the source's own). Primitives the cover entirely contains are dropped (with
        ``hide``, the source is known to be inside the cover)."""
        s = self.specs[src]
        if s.length > 0:
            grow = offset / torch.sqrt(s.scale[0] * s.scale[2])
            size = {"r0": s.r0 + grow, "r1": s.r1 + grow}
        else:
            size = {"scale": s.scale + offset}
        spec = dataclasses.replace(
            s, name=name, part=PART_IDS[part], material=MATERIAL_IDS[mat], **size,
            planes=list(s.planes) + list(planes), hidden=False, root=s.root or src,
            offset=s.offset + offset,
        )  # fmt: skip
        self.specs[name] = spec
        if hide:
            s.hidden = True
        elif not planes:
            # Everything inflating the same root less, cut by at least the same planes, lies
            # inside the new cover: drop it.
            for other in self.specs.values():
                same_root = other.name == spec.root or other.root == spec.root
                if (
                    other is not spec
                    and same_root
                    and other.offset <= spec.offset
                    and all(any(p is q for q in other.planes) for p in spec.planes)
                ):
                    other.hidden = True

    def visible(self) -> list[Spec]:
        """The specs not hidden inside a cover, in order."""
        return [sp for sp in self.specs.values() if not sp.hidden]


def keep_below(y) -> Plane:
    """Keep the half-space under height ``y``."""
    return torch.tensor([0.0, 1.0, 0.0]), torch.as_tensor(y, dtype=torch.float32)


def keep_above(y) -> Plane:
    """Keep the half-space over height ``y``."""
    return torch.tensor([0.0, -1.0, 0.0]), -torch.as_tensor(y, dtype=torch.float32)


def keep_side(normal, point) -> Plane:
    """Keep the half-space ``normal . (x - point) <= 0``."""
    n = torch.as_tensor(normal, dtype=torch.float32)
    n = n / n.norm()
    return n, n @ point


def across(a, b, frac) -> Plane:
    """Cut perpendicular to segment a->b at ``a + frac (b - a)``, keeping the ``a`` side."""
    d = (b - a) / (b - a).norm()
    return d, d @ (a + frac * (b - a))


def posed_primitives(
    specs: list[Spec],
    rest: torch.Tensor,
    rots: torch.Tensor,
    posed: torch.Tensor,
    materials: MaterialTable,
) -> Primitives:
    """The primitives of rest-pose ``specs`` moved with their bones.

    Args:
        specs: the primitives in the rest pose. rest: (24, 3) rest joints.
        rots: (24, 3, 3) global bone rotations. posed: (24, 3) posed joints (with the
            body's translation). materials: the appearance's material table.
    """
    bone = torch.tensor([sp.bone for sp in specs], dtype=torch.int64)
    A_rest = torch.stack([sp.frame * sp.scale[None, :] for sp in specs])  # (P, 3, 3)
    c_rest = torch.stack([sp.origin for sp in specs])
    planes = torch.zeros(len(specs), MAX_PLANES, 4)
    planes[:, :, 3] = 1.0
    rows = []
    for i, sp in enumerate(specs):
        if len(sp.planes) > MAX_PLANES:
            raise ValueError(f"primitive {sp.name} has more than {MAX_PLANES} cutting planes")
        for k, (n, d) in enumerate(sp.planes):
            # n . (A x + c) <= d  <=>  (A^T n) . x <= d - n . c   (then normalised)
            nl = A_rest[i].T @ n
            dl = d - n @ c_rest[i]
            norm = nl.norm()
            rows.append((i, k, torch.cat([nl / norm, (dl / norm)[None]])))
    if rows:
        idx_i = torch.tensor([r[0] for r in rows])
        idx_k = torch.tensor([r[1] for r in rows])
        planes = planes.index_put((idx_i, idx_k), torch.stack([r[2] for r in rows]))
    R = rots[bone]  # (P, 3, 3)
    to_world = R @ A_rest
    origin = (R @ (c_rest - rest[bone])[:, :, None])[:, :, 0] + posed[bone]
    tex_rot = R.transpose(1, 2)
    tex_off = rest[bone] - (tex_rot @ posed[bone][:, :, None])[:, :, 0]
    return Primitives(
        origin=origin,
        to_world=to_world,
        to_local=torch.linalg.inv(to_world),
        length=torch.stack([sp.length for sp in specs]).float(),
        r0=torch.stack([torch.as_tensor(sp.r0) for sp in specs]).float(),
        r1=torch.stack([torch.as_tensor(sp.r1) for sp in specs]).float(),
        planes=planes,
        part=torch.tensor([sp.part for sp in specs], dtype=torch.int64),
        material=torch.tensor([sp.material for sp in specs], dtype=torch.int64),
        bone=bone,
        tex_rot=tex_rot,
        tex_off=tex_off,
        names=[sp.name for sp in specs],
        materials=materials,
    )

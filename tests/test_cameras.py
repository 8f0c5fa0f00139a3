"""The camera convention: projection round trips, pixel rays, orbit directions, Plücker maps."""

from __future__ import annotations

import torch

from humancrafter.cameras import (
    orbit_cameras,
    pixel_rays,
    plucker_rays,
    project,
    turntable,
    unproject,
    world_to_camera,
)


def test_project_unproject_round_trip():
    cams = orbit_cameras([0.0, 37.0, 145.0], elevation_deg=[0.0, 25.0, -40.0], width=64, height=48)
    points = (torch.rand(100, 3, generator=torch.Generator().manual_seed(0)) - 0.5) * 1.2
    uv, depth = project(points, cams)
    assert uv.shape == (3, 100, 2) and depth.shape == (3, 100)
    assert (depth > 0).all()
    back = unproject(uv, depth, cams)
    assert torch.allclose(back, points.expand(3, 100, 3), atol=1e-5)
    # The camera's own frame agrees: z of world_to_camera is the projected depth.
    assert torch.allclose(world_to_camera(points, cams.viewmats)[..., 2], depth)


def test_pixel_rays_go_through_pixel_centres():
    cams = orbit_cameras([10.0, 200.0], elevation_deg=[5.0, -15.0], width=20, height=14)
    origins, dirs = pixel_rays(cams)
    assert origins.shape == dirs.shape == (2, 14, 20, 3)
    assert torch.allclose(dirs.norm(dim=-1), torch.tensor(1.0), atol=1e-6)
    assert torch.allclose(origins[:, 0, 0], cams.centers, atol=1e-6)
    points = (origins + 1.7 * dirs).reshape(2, -1, 3)
    for c in range(2):
        uv, depth = project(points[c], cams[c])
        v, u = torch.meshgrid(torch.arange(14) + 0.5, torch.arange(20) + 0.5, indexing="ij")
        expected = torch.stack([u.reshape(-1), v.reshape(-1)], dim=-1)
        assert torch.allclose(uv[0], expected, atol=1e-4)
        assert (depth > 0).all()


def test_orbit_azimuths_follow_the_person_frame():
    cams = orbit_cameras([0.0, 90.0, 180.0], width=64, height=64, radius=2.4)
    expected = torch.tensor([[0.0, 0.0, 2.4], [2.4, 0.0, 0.0], [0.0, 0.0, -2.4]])
    assert torch.allclose(cams.centers, expected, atol=1e-5)
    left, right, up = torch.tensor([[0.3, 0, 0], [-0.3, 0, 0], [0, 0.3, 0]], dtype=torch.float32)
    uv, depth = project(torch.stack([left, right, up]), cams)
    # Azimuth 90 looks at the person's left side: their left (+x) is nearer than their right.
    assert depth[1, 0] < depth[1, 1]
    # From the front, the person's left appears on the image's right (a mirror-free photo),
    # and from behind on the left; +y is up in every view.
    assert uv[0, 0, 0] > 32 > uv[0, 1, 0]
    assert uv[2, 0, 0] < 32 < uv[2, 1, 0]
    assert (uv[:, 2, 1] < 32).all()
    # Turntables step in azimuth from the front.
    assert torch.allclose(turntable(4, 64, 64).centers, orbit_cameras([0, 90, 180, 270]).centers)


def test_plucker_rays_shapes_and_geometry():
    cams = orbit_cameras([0.0, 60.0], elevation_deg=10.0, width=16, height=12)
    pl = plucker_rays(cams)
    assert pl.shape == (2, 6, 12, 16)
    moment, d = pl[:, :3], pl[:, 3:]
    assert torch.allclose(d.norm(dim=1), torch.tensor(1.0), atol=1e-6)
    assert torch.allclose((moment * d).sum(dim=1), torch.tensor(0.0), atol=1e-5)
    # Orbit cameras look at the origin, so the central rays pass near it: small moments.
    assert moment[:, :, 5:7, 7:9].norm(dim=1).max() < 0.2

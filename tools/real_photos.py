"""Real photos against the published HumanCrafter results (``../shared/samples``).

For each ``hc_*.png`` with its published ``hc_*.ply``: our ``fast`` reconstruction (the
same steps as the ``fast`` mode: photo front-end, body fit, camera, prior, network), then

- a sheet ``docs/images/real_<name>.png``: the photo, our result from 8 turntable views in
  colour and in part colours, and the published result from the same 8 views;
- silhouette IoU of ours against the published splats per view: both turned so the photo
  is seen from azimuth 0 (the published file's photo yaw is found by matching its
  turntable silhouettes with the photo's mask, ``tools/silhouettes.py``), centred
  on their robust bounding box and scaled to the same height;
- the IoU of our silhouette from the photo's own camera against the photo's person mask.

    .venv/bin/python tools/real_photos.py [--checkpoint C] [--out docs/images]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from humancrafter.cameras import orbit_cameras
from humancrafter.model.checkpoint import DEFAULT_CHECKPOINT, load_model
from humancrafter.model.network import HumanCrafterNet
from humancrafter.model.predict import predict_splats
from humancrafter.photo import PhotoAnalysis, PhotoFrontEnd, load_image
from humancrafter.photo_views import output_size, place_cameras, view_inputs
from humancrafter.portable import splatfile
from humancrafter.portable.parts import PALETTE
from humancrafter.prior import fit_body
from humancrafter.render import RenderOutput, render_splats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from silhouettes import FOV_DEG, RADIUS, best_yaw, photo_mask, square_crop  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
VIEWS = 8
SIZE = 192  # sheet tile, pixels


def normalised(s: splatfile.Splats, yaw_deg: float) -> splatfile.Splats:
    """Turned by -yaw about y, robust box centred on the origin, 1 unit tall."""
    a = math.radians(-yaw_deg)
    R = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    pts = s.means @ R.T
    keep = s.opacity() > 0.05
    lo, hi = np.percentile(pts[keep], 1, axis=0), np.percentile(pts[keep], 99, axis=0)
    k = 1.0 / max(hi[1] - lo[1], 1e-6)
    out = splatfile.Splats(**{f: getattr(s, f) for f in s.__dataclass_fields__})
    out.means = ((pts - (lo + hi) / 2) * k).astype(np.float32)
    out.log_scales = (s.log_scales + math.log(k)).astype(np.float32)
    # Rotations turn with the splats: q' = q_R * q (wxyz).
    h = a / 2
    qr = np.array([math.cos(h), 0.0, math.sin(h), 0.0])
    q = s.unit_quats()
    w1, x1, y1, z1 = qr
    w2, x2, y2, z2 = q.T
    out.quats = np.stack([
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    ], axis=1).astype(np.float32)  # fmt: skip
    return out


def turntable(s: splatfile.Splats, yaws: list[float]) -> RenderOutput:
    cams = orbit_cameras(yaws, 0.0, radius=RADIUS, fov_y_deg=FOV_DEG, width=SIZE, height=SIZE)
    feats = PALETTE[s.part].astype(np.float32) / 255 if s.labelled else None
    with torch.no_grad():
        return render_splats(s, cams, features=feats, backend="cpu")


def reconstruct(
    net: HumanCrafterNet, front_end: PhotoFrontEnd, photo: Path, n: int = 40_000
) -> tuple[splatfile.Splats, float, PhotoAnalysis]:
    """Our ``fast`` reconstruction and its input-view silhouette IoU against the mask."""
    analysis = front_end.analyze(load_image(photo))
    params = fit_body(analysis)
    views = place_cameras([analysis], [0.0], params, 0)
    inputs = view_inputs([analysis], views.cameras, params, net.opt.image_size)
    size = output_size(float(inputs.mask.sum()), net.opt.layers_per_pixel, n,
                       net.opt.image_size, analysis.image.shape[0])  # fmt: skip
    out = view_inputs([analysis], views.cameras, params, size)
    (splats,) = predict_splats(net, inputs, out)
    cam = views.cameras.resized(256, 256)
    with torch.no_grad():
        alpha = render_splats(splats, cam, backend="cpu").alpha[0, ..., 0].numpy()
    mask = np.asarray(Image.fromarray((analysis.mask * 255).astype(np.uint8)).resize((256, 256)))
    inside = np.asarray(Image.fromarray(analysis.inside.astype(np.uint8) * 255).resize((256, 256)))
    m, a, ok = mask > 127, alpha > 0.5, inside > 127
    input_iou = float((m & a & ok).sum() / max(((m | a) & ok).sum(), 1))
    return splats, input_iou, analysis


def sheet(photo: np.ndarray, ours: RenderOutput, theirs: RenderOutput, title: str) -> Image.Image:
    rows = [ours.rgb, ours.features, theirs.rgb]
    canvas = Image.new("RGB", ((VIEWS + 1) * SIZE, 3 * SIZE + 20), "white")
    canvas.paste(Image.fromarray(photo).resize((SIZE, SIZE)), (0, 20))
    for r, imgs in enumerate(rows):
        for v in range(VIEWS):
            img = imgs[v].clamp(0, 1).numpy() if r != 1 else imgs[v].numpy()
            if r == 1:
                a = ours.alpha[v].numpy()
                img = img + (1 - a)  # part colours on white
            tile = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
            canvas.paste(tile, ((v + 1) * SIZE, 20 + r * SIZE))
    d = ImageDraw.Draw(canvas)
    d.text((4, 4), title, fill="black")
    for v in range(VIEWS):
        d.text(((v + 1) * SIZE + 4, 4), f"{v * 360 // VIEWS} deg", fill="black")
    for r, name in ((1, "ours: parts"), (2, "published")):
        d.text((4, 24 + r * SIZE), name, fill="black")
    return canvas


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    ap.add_argument("--out", type=Path, default=Path("docs/images"))
    args = ap.parse_args()
    if not SAMPLES.is_dir():
        print(f"no samples at {SAMPLES}")
        return 1
    net, _ = load_model(args.checkpoint)
    front_end = PhotoFrontEnd()
    yaws = [v * 360.0 / VIEWS for v in range(VIEWS)]
    print("| photo | input-view IoU vs photo mask | mean silhouette IoU vs published | per view |")
    print("|---|---|---|---|")
    for photo in sorted(SAMPLES.glob("hc_*.png")):
        published = splatfile.load(photo.with_suffix(".ply"))
        splats, input_iou, analysis = reconstruct(net, front_end, photo)
        ours = turntable(normalised(splats, 0.0), yaws)
        yaw, _ = best_yaw(published, square_crop(photo_mask(photo)))
        theirs = turntable(normalised(published, yaw), yaws)
        a, b = ours.alpha[..., 0].numpy() > 0.5, theirs.alpha[..., 0].numpy() > 0.5
        per_view = [(a[v] & b[v]).sum() / max((a[v] | b[v]).sum(), 1) for v in range(VIEWS)]
        args.out.mkdir(parents=True, exist_ok=True)
        img = sheet(analysis.image, ours, theirs, f"{photo.stem}: photo | ours | parts | published")
        img.save(args.out / f"real_{photo.stem}.png")
        cells = " ".join(f"{x:.2f}" for x in per_view)
        print(f"| {photo.stem} | {input_iou:.3f} | {np.mean(per_view):.3f} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

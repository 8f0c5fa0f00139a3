"""The ``humancrafter`` command. Each subcommand parses its arguments here and calls one
function of the module that does the work; heavy imports happen inside the handlers so
that ``humancrafter --help`` is instant."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .portable.config import DEFAULT_HOST, DEFAULT_PORT

WEIGHTS_HELP = "weights folder for mode full (docs/weights.md; default $HUMANCRAFTER_WEIGHTS)"


def _render(args: argparse.Namespace) -> int:
    from .portable import splatfile
    from .preview import PREVIEW_MAX_SPLATS, contact_sheet

    splats = splatfile.load(args.splats)
    max_splats = None if args.all_splats else PREVIEW_MAX_SPLATS
    sheet = contact_sheet(splats, views=args.views, size=args.size, max_splats=max_splats)
    sheet.save(args.output)
    labelled = "RGB and part colours" if splats.labelled else "RGB only (the file has no labels)"
    drawn = len(splats) if max_splats is None else min(len(splats), max_splats)
    sample = "" if drawn == len(splats) else f" (drawn from a subsample of {drawn:,})"
    print(f"wrote {args.output}: {args.views} views of {len(splats):,} splats{sample}, {labelled}")
    return 0


def _mesh(args: argparse.Namespace) -> int:
    from .mesh_export import export_file

    print(export_file(args.splats, args.output, voxel=args.voxel, height=args.height).message())
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .server.main import ServeOptions, serve

    return serve(
        ServeOptions(
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            allow_remote=args.allow_remote,
            allow_hosts=args.allow_host,
            device=args.device,
            preview_views=args.preview_views,
            preview_size=args.preview_size,
            queue_size=args.queue_size,
            max_upload_mb=args.max_upload_mb,
            max_pixels=args.max_pixels,
            max_results_gb=args.max_results_gb,
            max_age_days=args.max_age_days,
            access_log=args.access_log,
            max_jobs=args.max_jobs,
            max_connections=args.max_connections,
            header_timeout_s=args.header_timeout,
            body_idle_s=args.body_idle_timeout,
            max_job_gb=args.max_job_gb,
            weights=args.weights,
        )
    )


def _reconstruct(args: argparse.Namespace) -> int:
    from .pipeline import reconstruct_file

    reconstruct_file(
        args.photo, args.output, preview=args.preview, mode=args.mode,
        num_gaussians=args.gaussians, seed=args.seed, device=args.device, smpl_dir=args.smpl_dir,
        azimuths_deg=args.azimuths, checkpoint=args.checkpoint, weights=args.weights,
        save_views=args.save_views,
    )  # fmt: skip
    return 0


def _info(args: argparse.Namespace) -> int:
    from .info import report

    print(report(args.weights, args.device))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .pipeline import run_demo

    run_demo(args.out_dir)
    return 0


def _synth(args: argparse.Namespace) -> int:
    from .synth import write_dataset

    info = write_dataset(
        args.output, args.subjects, args.views, args.res, args.seed, workers=args.workers
    )
    print(
        f"wrote {args.subjects} subjects x {args.views} views at {args.res}px to {args.output} "
        f"({info['views_per_second']:.1f} views/s); layout: docs/data.md"
    )
    return 0


def _train(args: argparse.Namespace) -> int:
    from .training.config import load_config
    from .training.train import train

    overrides: dict[str, dict] = {}
    if args.steps is not None:
        overrides.setdefault("train", {})["steps"] = args.steps
    if args.out is not None:
        overrides.setdefault("train", {})["out"] = str(args.out)
    if args.data is not None:
        overrides.setdefault("data", {})["root"] = str(args.data)
    if args.init is not None:
        overrides.setdefault("train", {})["init"] = str(args.init)
    train(load_config(args.config, overrides), resume=args.resume)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from .evaluation import evaluate, markdown

    results = evaluate(
        args.checkpoint, args.data, split=args.split, limit=args.limit,
        lpips_weights=args.lpips_weights,
    )  # fmt: skip
    print(markdown(results))
    return 0


def _eval_real(args: argparse.Namespace) -> int:
    from .real_eval import evaluate_real, photo_table, summary_table

    if not args.samples.is_dir():
        raise FileNotFoundError(f"no samples folder at {args.samples}")
    scores = evaluate_real(
        args.samples, args.modes, out_dir=args.out, num_gaussians=args.gaussians,
        only=args.only or (),
    )  # fmt: skip
    print(summary_table(scores))
    print()
    print(photo_table(scores))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="humancrafter",
        description="Single photo to a semantic 3D Gaussian human (HumanCrafter).",
    )
    parser.add_argument("--version", action="version", version=f"humancrafter {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("render", help="contact sheet of turntable views of a splat file")
    p.add_argument("splats", type=Path, help="splat file (.ply)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output PNG")
    p.add_argument("--views", type=int, default=8, help="number of turntable views (default 8)")
    p.add_argument("--size", type=int, default=256, help="pixel size of each view (default 256)")
    p.add_argument(
        "--all-splats",
        action="store_true",
        help="draw every splat (default: a very large file is drawn from a subsample)",
    )
    p.set_defaults(func=_render)

    p = sub.add_parser(
        "mesh", help="splat file -> closed, coloured, part-grouped (GLB: skinned) mesh"
    )
    p.add_argument("splats", type=Path, help="splat file (.ply)")
    p.add_argument(
        "-o", "--output", type=Path, required=True,
        help="output mesh; the suffix picks the format: .glb (skinned), .obj or .ply",
    )  # fmt: skip
    p.add_argument(
        "--voxel", type=float, default=0.015,
        help="grid spacing of the surface in metres (default 0.015; vertices every ~1 cm)",
    )  # fmt: skip
    p.add_argument(
        "--height", type=float, default=1.75, help="height of the person in metres (1.75)"
    )
    p.set_defaults(func=_mesh)

    p = sub.add_parser("serve", help="run the reconstruction service the Blender add-on uses")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--data-dir", type=Path, help="jobs and results (default: user data dir)")
    p.add_argument("--allow-remote", action="store_true", help="allow a --host other than loopback")
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="extra Host header name clients use (repeatable), e.g. gpu1.studio.lan",
    )
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda; one worker")
    p.add_argument("--preview-views", type=int, default=8, help="preview views (default 8)")
    p.add_argument("--preview-size", type=int, default=256, help="preview view px (default 256)")
    p.add_argument("--queue-size", type=int, default=8, help="jobs that may wait (default 8)")
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="request limit (default 20)")
    p.add_argument(
        "--max-pixels", type=int, default=40_000_000, help="image pixel limit (default 40e6)"
    )
    p.add_argument(
        "--max-results-gb", type=float, default=2.0, help="result storage limit (default 2)"
    )
    p.add_argument(
        "--max-age-days", type=float, default=30.0, help="delete unused results after (30)"
    )
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.add_argument("--max-jobs", type=int, default=1000, help="job records kept (1000)")
    p.add_argument("--max-connections", type=int, default=64, help="open connections (64)")
    p.add_argument("--header-timeout", type=float, default=10.0, help="seconds for headers (10)")
    p.add_argument(
        "--body-idle-timeout", type=float, default=10.0, help="seconds a body may stall (10)"
    )
    p.add_argument("--max-job-gb", type=float, default=8.0, help="worker memory limit (8)")
    p.add_argument("--weights", type=Path, help=WEIGHTS_HELP)
    p.set_defaults(func=_serve)

    p = sub.add_parser("reconstruct", help="photo of a person -> labelled splat file")
    p.add_argument(
        "photo", type=Path, nargs="+", help="photo of one person (PNG, JPEG, ...); multiview: 2-4"
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="output splat file (.ply)")
    p.add_argument(
        "--mode",
        default="prior",
        help="prior (default: the fitted body, chosen on real photos), fast (the network), "
        "multiview or full",
    )
    p.add_argument(
        "--azimuths", type=float, nargs="+", help="multiview: each view's azimuth in degrees"
    )
    p.add_argument("--checkpoint", type=Path, help="network checkpoint (default: the shipped one)")
    p.add_argument(
        "--preview", type=Path, help="also make a contact sheet PNG here (a few seconds more)"
    )
    p.add_argument("--gaussians", type=int, default=40_000, help="number of Gaussians (40000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    p.add_argument("--smpl-dir", type=Path, help="folder with SMPL/SMPL-X files to use as body")
    p.add_argument("--weights", type=Path, help=WEIGHTS_HELP)
    p.add_argument(
        "--save-views", type=Path, help="full: write SV3D's generated views to this folder"
    )
    p.set_defaults(func=_reconstruct)

    p = sub.add_parser("info", help="what each mode needs and found; CUDA and gsplat")
    p.add_argument("--weights", type=Path, help=WEIGHTS_HELP)
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    p.set_defaults(func=_info)

    p = sub.add_parser("demo", help="reconstruct the bundled example photo into out/demo")
    p.add_argument("--out-dir", type=Path, default=Path("out/demo"), help="(default out/demo)")
    p.set_defaults(func=_demo)
    p = sub.add_parser("synth", help="write a synthetic multi-view dataset of mannequins")
    p.add_argument("--subjects", type=int, required=True, help="number of people")
    p.add_argument("--views", type=int, default=8, help="views per person (default 8)")
    p.add_argument("--res", type=int, default=256, help="image size in pixels (default 256)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("-o", "--output", type=Path, required=True, help="new or empty directory")
    p.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    p.set_defaults(func=_synth)

    p = sub.add_parser("train", help="train the HumanCrafter network (docs/model.md)")
    p.add_argument("--config", type=Path, required=True, help="TOML config, e.g. configs/tiny.toml")
    p.add_argument("--resume", action="store_true", help="continue the run in [train] out")
    p.add_argument("--steps", type=int, help="override [train] steps")
    p.add_argument("--out", type=Path, help="override [train] out (the run folder)")
    p.add_argument("--data", type=Path, help="override [data] root (a synth folder)")
    p.add_argument("--init", type=Path, help="override [train] init: fine-tune from a checkpoint")
    p.set_defaults(func=_train)

    p = sub.add_parser("eval", help="network vs prior on held-out synthetic subjects")
    p.add_argument("--checkpoint", type=Path, required=True, help="a .safetensors checkpoint")
    p.add_argument("--data", type=Path, required=True, help="a synth folder")
    p.add_argument("--split", default="test", help="test (default), val or train")
    p.add_argument("--limit", type=int, help="evaluate at most this many subjects")
    p.add_argument(
        "--lpips-weights", type=Path,
        help="a local LPIPS file (the lpips package's VGG state dict) for an LPIPS column",
    )  # fmt: skip
    p.set_defaults(func=_eval)

    p = sub.add_parser("eval-real", help="modes on real photos vs the published results")
    p.add_argument(
        "--samples", type=Path, default=Path("../shared/samples"),
        help="the real samples folder (default ../shared/samples)",
    )  # fmt: skip
    p.add_argument("--modes", nargs="+", default=["prior", "fast"], help="modes to compare")
    p.add_argument("--out", type=Path, help="folder for the sheets real_<photo>.png")
    p.add_argument("--gaussians", type=int, default=40_000, help="Gaussians asked of each mode")
    p.add_argument("--only", nargs="+", help="photo names to keep (e.g. hc_novel_10)")
    p.set_defaults(func=_eval_real)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .portable.splatfile import SplatFileError

    try:
        return args.func(args)
    except (SplatFileError, FileNotFoundError, ValueError) as e:
        print(f"humancrafter {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""The ``humancrafter`` command. Each subcommand parses its arguments here and calls one
function of the module that does the work; heavy imports happen inside the handlers so
that ``humancrafter --help`` is instant."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__


def _render(args: argparse.Namespace) -> int:
    from .portable import splatfile
    from .preview import contact_sheet

    splats = splatfile.load(args.splats)
    sheet = contact_sheet(splats, views=args.views, size=args.size)
    sheet.save(args.output)
    labelled = "RGB and part colours" if splats.labelled else "RGB only (the file has no labels)"
    print(f"wrote {args.output}: {args.views} views of {len(splats)} splats, {labelled}")
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
    p.set_defaults(func=_render)
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

"""``humancrafter info``: what this machine can run — per mode, what was found and exactly
what is missing (file names and where they were looked for), and whether CUDA and gsplat
work (gsplat is tried on a tiny scene, not just imported)."""

from __future__ import annotations

from pathlib import Path

from . import __version__
from . import weights as wf


def gsplat_status() -> str:
    """ "works on GPU-NAME", or why not (one phrase)."""
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU seen by torch (the CPU rasterizer is used)"
    try:
        import gsplat  # noqa: F401
    except ImportError:
        return "CUDA is present but gsplat is not installed (pip install 'humancrafter[gpu]')"
    from .render import gsplat_backend

    try:
        z, o = torch.zeros, torch.ones
        gsplat_backend.rasterize(
            z(1, 3, device="cuda") + torch.tensor([0.0, 0.0, 2.0], device="cuda"),
            torch.tensor([[1.0, 0, 0, 0]], device="cuda"), o(1, 3, device="cuda") * 0.1,
            o(1, device="cuda"), o(1, 3, device="cuda"), torch.eye(4, device="cuda")[None],
            torch.tensor([[[16.0, 0, 8], [0, 16.0, 8], [0, 0, 1]]], device="cuda"), 16, 16,
        )  # fmt: skip
        torch.cuda.synchronize()
    except Exception as e:  # noqa: BLE001 - any failure is what the user needs to see
        return f"gsplat is installed but failed on a test scene ({type(e).__name__}: {e})"
    return f"works on {torch.cuda.get_device_name(0)}"


def report(weights: str | Path | None = None, device: str = "auto") -> str:
    """The text ``humancrafter info`` prints."""
    from .pipeline import Pipeline

    lines = [f"humancrafter {__version__}"]
    root = wf.weights_root(weights)
    if root is None:
        lines.append(f"weights folder: not set (--weights DIR or ${wf.ENV_VAR})")
    else:
        state = "" if root.is_dir() else " (does not exist)"
        lines.append(f"weights folder: {root}{state}")
        for component in wf.inventory(root).values():
            lines.append(f"  {component.name:<11} {component.describe()}")
    pipeline = Pipeline(device, weights=None if root is None else str(root))
    lines.append(f"device: {pipeline.device}")
    lines.append(f"gsplat: {gsplat_status()}")
    lines.append("modes:")
    for mode, missing in pipeline.available_modes().items():
        lines.append(f"  {mode:<10} {'ready' if missing is None else 'not ready: it ' + missing}")
    return "\n".join(lines)

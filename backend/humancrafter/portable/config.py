"""Where the backend listens and keeps its access token and data; shared with the Blender
add-on so that both agree on the address and the add-on finds a local backend's token
without being told.

Standard library only. ``HUMANCRAFTER_CONFIG_DIR`` overrides the folder (tests use it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
"""The address ``humancrafter serve`` binds and the add-on calls by default (loopback)."""
DEFAULT_PORT = 8765
"""The port ``humancrafter serve`` listens on and the add-on calls by default."""
API_PREFIX = "/v1"
"""The path prefix of every route of the HTTP API (``docs/api.md``)."""


def config_dir() -> Path:
    """The per-user configuration folder of HumanCrafter (not created here)."""
    override = os.environ.get("HUMANCRAFTER_CONFIG_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "humancrafter"


def token_path() -> Path:
    """The file holding the bearer token of the local backend (mode 0600)."""
    return config_dir() / "token"


def read_token() -> str | None:
    """The local backend's token, or None when no backend has created one yet."""
    try:
        token = token_path().read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return token or None

"""HTTP client for the HumanCrafter backend (standard library and ``portable`` only, no
bpy).

Speaks the ``/v1`` contract of ``docs/api.md``. Safe to use from a worker thread: it
touches no Blender data. Every failure becomes :class:`BackendError` whose message is one
sentence saying what is wrong and what to do, and whose ``kind`` lets the panel react:

- ``"down"``: nothing answers at the URL (connection refused, DNS failure, timeout);
- ``"auth"``: the token is missing or wrong (HTTP 401);
- ``"offline"``: a non-local URL while Blender's "Allow Online Access" is off;
- ``"busy"``: the backend's queue is full (HTTP 429, ``retry_after`` seconds);
- ``"input"``: the backend refused the request (other 4xx; its ``detail`` is quoted);
- ``"server"``: the backend failed (5xx) or answered something that is not the contract.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass

from .portable.config import API_PREFIX, DEFAULT_HOST, DEFAULT_PORT

DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"


class BackendError(Exception):
    """A request to the backend failed; ``str(e)`` is a sentence for the artist."""

    def __init__(self, message: str, kind: str, status: int | None = None):
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after: float | None = None


def validate_url(url: str) -> str:
    """The normalised base URL (scheme://host:port, no trailing slash or path).

    Raises ``ValueError`` naming the problem for anything that is not http(s) with a host.
    """
    text = url.strip()
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"backend URL {text!r} must start with http:// or https://")
    if not parts.hostname:
        raise ValueError(f"backend URL {text!r} has no host name")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"backend URL {text!r} has an invalid port") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"backend URL {text!r} must be only scheme, host and port (no path)")
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def is_local(url: str) -> bool:
    """True when the URL's host is this machine (localhost or a loopback address)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Client:
    """One backend. ``timeout_s`` bounds each small request; ``transfer_timeout_s``
    bounds uploads and result downloads."""

    base_url: str = DEFAULT_URL
    token: str | None = None
    timeout_s: float = 5.0
    transfer_timeout_s: float = 120.0
    online_access: bool = True

    def __post_init__(self) -> None:
        self.base_url = validate_url(self.base_url)

    # ------------------------------------------------------------------ routes

    def health(self) -> dict:
        """``GET /v1/health`` (no token needed)."""
        return self._json("GET", "/health", auth=False)

    def submit(self, images: list[tuple[str, bytes]], options: dict) -> dict:
        """``POST /v1/jobs`` with 1-4 ``(file name, bytes)`` images; returns JobInfo."""
        fields = [("options", None, json.dumps(options).encode("utf-8"), "")]
        for name, data in images:
            fields.append(("images", name, data, _image_type(data)))
        body, ctype = _multipart(fields)
        return self._json("POST", "/jobs", body=body, ctype=ctype, timeout=self.transfer_timeout_s)

    def job(self, job_id: str) -> dict:
        """``GET /v1/jobs/{id}``: JobInfo."""
        return self._json("GET", f"/jobs/{urllib.parse.quote(job_id)}")

    def jobs(self, limit: int = 100) -> dict:
        """``GET /v1/jobs``: ``{"jobs": [JobInfo, ...]}``, most recent first."""
        return self._json("GET", f"/jobs?limit={int(limit)}")

    def cancel(self, job_id: str) -> dict:
        """``POST /v1/jobs/{id}/cancel``: JobInfo."""
        return self._json("POST", f"/jobs/{urllib.parse.quote(job_id)}/cancel", body=b"")

    def result(self, job_id: str) -> bytes:
        """``GET /v1/jobs/{id}/result``: the semantic splat PLY bytes."""
        path = f"/jobs/{urllib.parse.quote(job_id)}/result"
        return self._request("GET", path, timeout=self.transfer_timeout_s)

    def convert_spz(self, ply: bytes) -> bytes:
        """``POST /v1/convert/spz``: SPZ bytes of a splat PLY."""
        return self._request(
            "POST", "/convert/spz", body=ply, ctype="application/octet-stream",
            timeout=self.transfer_timeout_s,
        )  # fmt: skip

    # ------------------------------------------------------------------ plumbing

    def _json(self, method: str, path: str, **kw) -> dict:
        data = self._request(method, path, **kw)
        try:
            value = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise BackendError(
                f"{self.base_url} answered {path} with something that is not JSON; "
                "is this URL really a HumanCrafter backend?",
                "server",
            ) from None
        if not isinstance(value, dict):
            raise BackendError(f"{self.base_url} answered {path} with unexpected JSON", "server")
        return value

    def _request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        ctype: str | None = None,
        auth: bool = True,
        timeout: float | None = None,
    ) -> bytes:
        if not self.online_access and not is_local(self.base_url):
            raise BackendError(
                f"Blender's online access is off, so the add-on may not contact "
                f"{self.base_url}; allow it in Preferences › System › Network "
                "or use a backend on this computer.",
                "offline",
            )
        req = urllib.request.Request(self.base_url + API_PREFIX + path, data=body, method=method)
        if ctype:
            req.add_header("Content-Type", ctype)
        if auth and self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout_s) as resp:
                return resp.read()
        except urllib.error.HTTPError as e:
            raise self._http_error(e, path) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            if isinstance(reason, socket.timeout | TimeoutError):
                what = "did not answer in time"
            elif isinstance(reason, ConnectionRefusedError):
                what = "refused the connection (nothing is listening there)"
            else:
                what = f"cannot be reached ({reason})"
            raise BackendError(
                f"The HumanCrafter backend at {self.base_url} {what}; start it with "
                "'humancrafter serve' or Preferences › Start local backend.",
                "down",
            ) from None

    def _http_error(self, e: urllib.error.HTTPError, path: str) -> BackendError:
        try:
            detail = json.loads(e.read()).get("detail")
        except (ValueError, AttributeError, OSError):
            detail = None
        if not isinstance(detail, str):
            detail = None
        if e.code == 401:
            where = "the token file of a local backend" if is_local(self.base_url) else "the server"
            err = BackendError(
                f"The backend at {self.base_url} rejected the access token; "
                f"copy the token from {where} into the add-on preferences.",
                "auth",
                401,
            )
        elif e.code == 429:
            err = BackendError(
                "The backend is busy (its job queue is full); try again shortly.", "busy", 429
            )
            try:
                err.retry_after = float(e.headers.get("Retry-After", ""))
            except ValueError:
                err.retry_after = None
        elif 400 <= e.code < 500:
            text = _sentence(detail) if detail else f"The backend refused {path} (HTTP {e.code})."
            err = BackendError(text, "input")
            err.status = e.code
        else:
            err = BackendError(
                f"The backend failed on {path} (HTTP {e.code})"
                + (f": {detail}" if detail else "."),
                "server",
                e.code,
            )
        return err


def describe_modes(health: dict, mode: str) -> tuple[bool, str]:
    """(can run, one line for the panel) for ``mode`` given a ``/v1/health`` answer."""
    modes = health.get("modes") or {}
    info = modes.get(mode)
    version = health.get("version", "?")
    device = health.get("device", "?")
    if info is None:
        known = ", ".join(sorted(modes)) or "none"
        return False, f"Backend {version} on {device} has no mode '{mode}' (it offers: {known})."
    if not info.get("available"):
        need = str(info.get("missing") or "something the backend did not name").rstrip(".")
        need = need if need.startswith(("needs", "need ")) else f"needs {need}"
        ready = [m for m, i in modes.items() if (i or {}).get("available")]
        other = f" Ready now: {', '.join(ready)}." if ready else " No mode is ready there."
        return False, f"Mode '{mode}' is unavailable on this backend: it {need}.{other}"
    return True, f"Connected: backend {version} on {device}, mode '{mode}' ready."


def _sentence(text: str) -> str:
    """``text`` with a capital first letter and a final full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _image_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def _multipart(fields: list[tuple[str, str | None, bytes, str]]) -> tuple[bytes, str]:
    """multipart/form-data body and its Content-Type for (name, filename, data, type)."""
    boundary = "hc-" + uuid.uuid4().hex
    out = bytearray()
    for name, filename, data, ctype in fields:
        out += f"--{boundary}\r\n".encode()
        disp = f'form-data; name="{name}"'
        if filename is not None:
            safe = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
            disp += f'; filename="{safe}"\r\nContent-Type: {ctype}'
        out += f"Content-Disposition: {disp}\r\n\r\n".encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"

"""What keeps the service safe to leave running on an artist's machine.

- a random bearer token, created at first start in
  :func:`humancrafter.portable.config.token_path` (mode 0600), required on every route
  except the public ones (health and the OpenAPI schema);
- a Host header check against the names the server is meant to be reached by, so that a
  web page cannot reach it through DNS rebinding (together with the token and the absence
  of CORS headers, a browser page cannot drive it);
- a request body limit, checked against ``Content-Length`` before anything is read and
  counted while the body streams in (chunked uploads);
- body time limits: each piece of a body must arrive within ``body_idle_s`` and the whole
  body within ``body_total_s`` (a body shorter than its Content-Length, or a chunked
  upload that never ends, is answered 408 and the connection closed);
- loopback-only binding unless the operator asks for more.

Everything here is a pure ASGI middleware or a plain function, so it runs before FastAPI
parses a single byte of a request body.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import os
import secrets
import socket
from collections.abc import Iterable
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..portable.config import API_PREFIX

LOCAL_HOST_NAMES = ("localhost", "127.0.0.1", "::1")
OPENAPI_PATH = f"{API_PREFIX}/openapi.json"
PUBLIC_PATHS = frozenset({f"{API_PREFIX}/health", OPENAPI_PATH})
TOKEN_BYTES = 32


def ensure_token(path: Path) -> tuple[str, bool]:
    """Read the token at ``path``, creating a random one (mode 0600) if there is none.

    The folder is created with mode 0700. An existing file that others can read is
    narrowed to 0600.

    Returns:
        (token, created): the token and whether this call created the file.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        token = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        token = ""
    if token:
        if os.name == "posix" and path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return token, False
    token = secrets.token_urlsafe(TOKEN_BYTES)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token + "\n")
    os.replace(tmp, path)
    return token, True


def is_loopback(host: str) -> bool:
    """True when binding to ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_host_names(bind_host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """Host header names (without port, lower case, IPv6 without brackets) the server
    answers to: the loopback names, the bind address when it is a specific one, and
    ``extra`` (``--allow-host``). A wildcard bind (0.0.0.0, ::) adds this machine's
    host name and fully qualified name, the names colleagues normally type."""
    names = set(LOCAL_HOST_NAMES)
    bind = bind_host.strip("[]").lower()
    if bind in ("0.0.0.0", "::"):
        names.update({socket.gethostname().lower(), socket.getfqdn().lower()})
    else:
        names.add(bind)
    names.update(_normalise_host(h) for h in extra)
    names.discard("")
    return frozenset(names)


def _normalise_host(value: str) -> str:
    """'Example.lan:8765' -> 'example.lan'; '[::1]:8765' -> '::1'."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else ""
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


def bearer_matches(authorization: str | None, token: str) -> bool:
    """Constant-time check of an ``Authorization: Bearer <token>`` header value."""
    if not authorization:
        return False
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), token.encode())


class BodyTooLarge(HTTPException):
    """Raised while a request body streams in once it passes the limit (answered 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            status_code=413,
            detail=f"the request body is larger than the server's limit of {_mb(limit)}",
        )


class BodyTimeout(HTTPException):
    """Raised while a request body streams in too slowly (answered 408)."""

    def __init__(self, what: str) -> None:
        super().__init__(status_code=408, detail=f"the request body {what}; send it again")


def _mb(n: int) -> str:
    return f"{n / 1_000_000:g} MB"


class GuardMiddleware:
    """Host check, bearer token and body limit in front of the whole application.

    Args:
        app: the ASGI application to protect.
        token: the bearer token.
        allowed_hosts: names from :func:`allowed_host_names`.
        max_body_bytes: largest request body accepted, in bytes.
        body_idle_s: longest wait for the next piece of a request body.
        body_total_s: longest time a whole request body may take.
    """

    def __init__(
        self,
        app: ASGIApp,
        token: str,
        allowed_hosts: frozenset[str],
        max_body_bytes: int,
        body_idle_s: float = 10.0,
        body_total_s: float = 120.0,
    ) -> None:
        self.app = app
        self.token = token
        self.allowed_hosts = allowed_hosts
        self.max_body_bytes = max_body_bytes
        self.body_idle_s = body_idle_s
        self.body_total_s = body_total_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = _normalise_host(headers.get("host", ""))
        if host not in self.allowed_hosts:
            shown = host[:64] or "(none)"
            await _reply(send, 400, f"the Host header {shown!r} is not a name of this server")
            return
        if scope["path"] not in PUBLIC_PATHS and not bearer_matches(
            headers.get("authorization"), self.token
        ):
            detail = (
                "missing or wrong bearer token; send 'Authorization: Bearer <token>' with the "
                "token from the file the server printed at start"
            )
            await _reply(send, 401, detail, {"www-authenticate": "Bearer"})
            return
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                await _reply(send, 400, "the Content-Length header is not a number")
                return
            if int(length) > self.max_body_bytes:
                await _reply(send, 413, BodyTooLarge(self.max_body_bytes).detail)
                return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        seen = 0
        complete = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_total_s

        async def counted() -> Message:
            nonlocal seen, complete
            if complete:  # later receives wait for a disconnect: no time limit
                return await receive()
            left = deadline - loop.time()
            if left <= 0:
                raise BodyTimeout(f"took more than {self.body_total_s:g} s")
            try:
                message = await asyncio.wait_for(receive(), min(self.body_idle_s, left))
            except TimeoutError:
                if loop.time() >= deadline:
                    raise BodyTimeout(f"took more than {self.body_total_s:g} s") from None
                raise BodyTimeout(f"stalled: nothing arrived for {self.body_idle_s:g} s") from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        return counted


async def _reply(send: Send, status: int, detail: str, extra: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

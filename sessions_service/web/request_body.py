"""Read a request's whole body, within a deadline, before the app sees the request.

A client that trickles its body would otherwise hold a worker thread (and, once the auth hook
has run, a database connection) for as long as it likes. Here the body is read first, into
memory (it is at most ``MAX_BODY_BYTES``), and a body that is not complete within
``SESSIONS_REQUEST_BODY_TIMEOUT`` seconds is answered ``408`` in the usual JSON envelope.

Under gunicorn the deadline is enforced on the socket itself: a timer shuts down its read side,
so whatever read is blocked returns at once, however slowly the bytes came before.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

from sessions_service.web.errors import envelope

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
CHUNK = 16 * 1024


def _json_error(start_response: Callable[..., Any], status: str, error: str) -> list[bytes]:
    body = json.dumps(envelope(error)).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
        ],
    )
    return [body]


class BufferedBody:
    """WSGI middleware: the body is read completely (or refused) before ``app`` runs."""

    def __init__(self, app: WSGIApp, *, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        raw_length = environ.get("CONTENT_LENGTH") or ""
        if not chunked and not raw_length.strip():
            return self.app(environ, start_response)
        try:
            length = None if chunked else int(raw_length)
        except ValueError:
            return self.app(environ, start_response)  # werkzeug answers a bad length itself
        if length is not None and length > self.max_bytes:
            return self.app(environ, start_response)  # 413 from the app, body unread
        sock = environ.get("gunicorn.socket")
        expired = threading.Event()
        timer = threading.Timer(self.timeout_s, _shut_reads, (sock, expired))
        if sock is not None:
            timer.daemon = True
            timer.start()
        try:
            body = _read(environ["wsgi.input"], length, self.max_bytes)
        except _TooLarge:
            return _json_error(
                start_response, "413 Request Entity Too Large", "Request entity too large"
            )
        except Exception:  # noqa: BLE001  (the parser's errors for a body cut short)
            if expired.is_set():
                return _json_error(start_response, "408 Request Timeout", "Request timeout")
            return _json_error(start_response, "400 Bad Request", "Incomplete request body")
        finally:
            timer.cancel()
        if expired.is_set():
            return _json_error(start_response, "408 Request Timeout", "Request timeout")
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["wsgi.input_terminated"] = True
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.app(environ, start_response)


class _TooLarge(Exception):
    pass


def _read(stream: Any, length: int | None, max_bytes: int) -> bytes:
    """The body: ``length`` bytes, or (chunked) everything up to ``max_bytes``."""
    parts: list[bytes] = []
    total = 0
    while length is None or total < length:
        want = CHUNK if length is None else min(CHUNK, length - total)
        chunk = stream.read(want)
        if not chunk:
            if length is not None:
                raise ConnectionError("body shorter than Content-Length")
            break
        total += len(chunk)
        if total > max_bytes:
            raise _TooLarge
        parts.append(chunk)
    return b"".join(parts)


def _shut_reads(sock: socket.socket | None, expired: threading.Event) -> None:
    """Past the deadline: make the blocked read return (the answer can still be written)."""
    expired.set()
    if sock is not None:
        with contextlib.suppress(OSError):  # the client may be gone already
            sock.shutdown(socket.SHUT_RD)

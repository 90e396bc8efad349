"""The service's outer ASGI layer: load shedding, HEAD, trusted hosts, quiet logs.

:class:`Guard` wraps the whole application:

* **back-pressure**: at most ``max_in_flight`` requests are handled at once by
  this worker process; past that a request is answered at once with 503 and
  ``Retry-After`` instead of queueing for seconds;
* **HEAD** is answered wherever GET is (same status and headers, no body);
* **trusted host**: a ``Host`` header that is not in ``allowed_hosts`` (nor the
  address the server listens on) is replaced by the listening address before
  the app sees it, so links and redirects never carry a caller's host; with
  ``public_base_url`` set, redirects point there;
* **logs**: the query string of ``/locate`` (an address, a position) is dropped
  before the server writes its access log line;
* **no dropped connections**: an unexpected exception becomes a JSON 500 (the
  details go to the log) and the connection stays usable.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

log = logging.getLogger("gridmap.api")

#: Paths whose query strings never reach the access log (they carry addresses, positions).
QUIET_QUERY_PATHS = ("/locate", "/requests/where", "/worker")


def _json_body(error: str, message: str) -> bytes:
    doc = {"error": error, "message": message, "layer": None, "ids": None}
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def _host_only(value: str) -> str:
    """The host part of a Host header value (``[::1]:8000`` -> ``::1``)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


class Guard:
    """ASGI middleware: see the module docstring.

    Parameters
    ----------
    app
        The ASGI application.
    max_in_flight
        Requests handled at once; more are shed with 503.
    retry_after_s
        ``Retry-After`` seconds of a shed request.
    allowed_hosts
        Host header values (without port) trusted for links.
    public_base_url
        If given, redirects (``Location``) point below this URL.
    """

    def __init__(
        self,
        app,
        *,
        max_in_flight: int = 64,
        retry_after_s: int = 1,
        allowed_hosts: list[str] | tuple[str, ...] = ("127.0.0.1", "localhost", "::1"),
        public_base_url: str | None = None,
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.retry_after_s = retry_after_s
        self.allowed_hosts = {h.strip().lower().strip("[]") for h in allowed_hosts}
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.in_flight = 0
        self.shed = 0  # requests answered 503 (for /healthz and tests)
        self.peak_in_flight = 0

    def _trust_host(self, scope) -> None:
        headers = scope.get("headers") or []
        server = scope.get("server")
        listen = None
        if server and server[0]:
            h = server[0]
            shown = f"[{h}]" if ":" in h else h
            listen = f"{shown}:{server[1]}" if server[1] else shown
        host = None
        for k, v in headers:
            if k == b"host":
                host = v.decode("latin-1")
                break
        if host is not None:
            name = _host_only(host)
            if name in self.allowed_hosts or (server and name == str(server[0]).lower()):
                return
        if server and server[0] in ("0.0.0.0", "::"):
            listen = f"127.0.0.1:{server[1]}"
        if listen is None:
            listen = "127.0.0.1"
        scope["headers"] = [(k, v) for k, v in headers if k != b"host"] + [
            (b"host", listen.encode("latin-1"))
        ]

    def _location(self, scope, headers):
        if not self.public_base_url:
            return headers
        out = []
        for k, v in headers:
            if k.lower() == b"location":
                parts = urlsplit(v.decode("latin-1"))
                path = parts.path + (f"?{parts.query}" if parts.query else "")
                v = (self.public_base_url + path).encode("latin-1")
            out.append((k, v))
        return out

    async def _answer(self, send, status: int, body: bytes, head: bool, extra=()) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *extra,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self._trust_host(scope)
        head = scope.get("method") == "HEAD"
        quiet = scope.get("path") in QUIET_QUERY_PATHS
        if self.in_flight >= self.max_in_flight:
            self.shed += 1
            if quiet:
                scope["query_string"] = b""
            body = _json_body(
                "Overloaded",
                f"the server is busy; retry in {self.retry_after_s} s",
            )
            retry = [(b"retry-after", str(self.retry_after_s).encode())]
            await self._answer(send, 503, body, head, retry)
            return
        if head:
            scope["method"] = "GET"
        started = False

        async def guarded_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if head:
                    scope["method"] = "HEAD"  # the server then sends no body
                if quiet:
                    scope["query_string"] = b""  # the access log line is written now
                message = {**message, "headers": self._location(scope, message.get("headers", []))}
            elif message["type"] == "http.response.body" and head:
                message = {**message, "body": b""}
            await send(message)

        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await self.app(scope, receive, guarded_send)
        except Exception:
            log.exception("unexpected error on %s", scope.get("path"))
            if head:
                scope["method"] = "HEAD"
            if quiet:
                scope["query_string"] = b""
            if not started:
                body = _json_body(
                    "InternalError",
                    "the server hit an unexpected error; the administrator can see it in the log",
                )
                await self._answer(send, 500, body, head)
        finally:
            self.in_flight -= 1

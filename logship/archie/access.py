"""Who may use archie: loopback by default, a shared token beyond it.

archie listens on 127.0.0.1 by default, where anyone who can reach it is
on the machine already.  Bound to any other interface it needs C{--token
FILE}, a file (mode 0600) holding one line, the token: printable ASCII
without spaces, quotes, commas, semicolons or backslashes, at least
L{MIN_TOKEN} characters (C{openssl rand -hex 32 > archie.token}).  With a token, every request must
present it, in one of three ways:

  1. C{Authorization: Bearer TOKEN} (API clients, C{curl -H});
  2. the cookie C{archie_token=TOKEN}, which the page sets by itself:
  3. open C{http://HOST:PORT/?token=TOKEN} once: archie checks it, sets
     the cookie (C{HttpOnly; SameSite=Strict}, C{Secure} over TLS) and
     redirects to the same address without the token, so that it does not
     stay in the address bar, the history or a Referer.

Tokens are compared with L{hmac.compare_digest}.  A request without a valid
token gets 401 (JSON under C{/api/}, a short HTML page elsewhere).  The
cookie is C{SameSite=Strict}, so another site cannot make a browser send it
(no cross-site POST of a history request).
"""

from __future__ import annotations

import hmac
import ipaddress
import stat
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from twisted.python import usage
from twisted.web.resource import Resource
from twisted.web.server import Request

#: The shortest token accepted.
MIN_TOKEN = 16
#: The cookie that carries the token.
COOKIE = b"archie_token"
_TOKEN_CHARS = frozenset(
    chr(c) for c in range(0x21, 0x7F) if chr(c) not in "\"',;\\"
)

#: Headers on every answer.
SECURITY_HEADERS = {
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"no-referrer",
    b"content-security-policy": (
        b"default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:;"
        b" style-src 'self'; script-src 'self'; frame-ancestors 'none'"
    ),
}


def read_token(path: Path) -> str:
    """
    Read a token file.

    @return: the token.
    @raise usage.UsageError: the file is missing, readable by group or
        others, or does not hold one acceptable token.
    """
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as e:
        raise usage.UsageError(f"--token {path}: {e.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise usage.UsageError(
            f"--token {path}: readable by group or others (mode"
            f" {stat.S_IMODE(mode):o}); chmod 600 it"
        )
    token = text.strip()
    if len(token) < MIN_TOKEN or not set(token) <= _TOKEN_CHARS:
        raise usage.UsageError(
            f"--token {path}: expected one line of at least {MIN_TOKEN} printable"
            " ASCII characters without spaces, quotes, commas, semicolons or"
            " backslashes (e.g. from secrets.token_urlsafe(32))"
        )
    return token


def _endpoint_fields(description: str) -> tuple[str, list[str], dict[str, str]]:
    """
    Split a server endpoint string into its kind, positional arguments and
    keyword arguments (C{\\:} is a colon inside a value).
    """
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for c in description:
        if escaped:
            current.append(c)
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == ":":
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
    parts.append("".join(current))
    kind, rest = parts[0], parts[1:]
    args = [p for p in rest if "=" not in p]
    kwargs = dict(p.split("=", 1) for p in rest if "=" in p)
    return kind, args, kwargs


def is_loopback(description: str) -> bool:
    """
    Whether a server endpoint string (C{--listen}) only accepts connections
    from this machine: TCP on a loopback interface, or a UNIX socket.
    Anything else (no interface: all of them; TLS; systemd) is not.
    """
    kind, args, kwargs = _endpoint_fields(description)
    if kind == "unix":
        return True
    if kind not in ("tcp", "tcp6"):
        return False
    interface = kwargs.get("interface")
    if interface is None and len(args) > 2:
        interface = args[2]
    if interface is None:
        return False
    if interface == "localhost":
        return True
    try:
        return ipaddress.ip_address(interface.strip("[]")).is_loopback
    except ValueError:
        return False


def _bearer(request: Request) -> bytes | None:
    header = request.getHeader(b"authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(b" ")
    if scheme.lower() != b"bearer":
        return None
    return value.strip()


def _same(given: bytes | None, token: bytes) -> bool:
    return given is not None and hmac.compare_digest(given, token)


class Unauthorized(Resource):
    """
    The answer to a request without a valid token: 401, in JSON for the
    API, in HTML for the page.
    """

    isLeaf = True

    def __init__(self, api: bool) -> None:
        super().__init__()
        self._api = api

    def render(self, request: Request) -> bytes:
        request.setResponseCode(401)
        request.setHeader(b"cache-control", b"no-store")
        if self._api:
            request.setHeader(b"content-type", b"application/json; charset=utf-8")
            request.setHeader(b"www-authenticate", b'Bearer realm="archie"')
            return (
                b'{"error": "a token is required: send Authorization: Bearer TOKEN",'
                b' "parameter": "token"}\n'
            )
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return (
            b"<!doctype html><title>archie: token required</title>"
            b"<p>This archie needs its token: open this address once with"
            b" <code>?token=TOKEN</code> added (the token is in the file given"
            b" to <code>--token</code>).</p>\n"
        )


class _Redirect(Resource):
    isLeaf = True

    def __init__(self, location: bytes) -> None:
        super().__init__()
        self._location = location

    def render(self, request: Request) -> bytes:
        request.setResponseCode(303)
        request.setHeader(b"location", self._location)
        request.setHeader(b"cache-control", b"no-store")
        return b""


class Guard(Resource):
    """
    The root resource: adds L{SECURITY_HEADERS} to every answer and, when
    a token is set, lets through only requests that present it (see the
    module docstring), before handing them to C{wrapped}.
    """

    def __init__(self, wrapped: Resource, token: str | None) -> None:
        """
        @param wrapped: the real root (page and API).
        @param token: the token, or C{None} to let everyone in (loopback).
        """
        super().__init__()
        self._wrapped = wrapped
        self._token = None if token is None else token.encode("ascii")

    def getChildWithDefault(self, path: bytes, request: Request) -> Any:
        for name, value in SECURITY_HEADERS.items():
            request.setHeader(name, value)
        if self._token is None:
            return self._wrapped.getChildWithDefault(path, request)
        api = path == b"api"
        given = request.args.get(b"token")
        if given is not None and not api:
            if len(given) == 1 and _same(given[0], self._token):
                request.addCookie(
                    COOKIE, self._token, path=b"/", httpOnly=True,
                    secure=request.isSecure(), sameSite="strict",
                )
                return _Redirect(self._location_without_token(request))
            return Unauthorized(api)
        if _same(_bearer(request), self._token) or _same(
            request.getCookie(COOKIE), self._token
        ):
            return self._wrapped.getChildWithDefault(path, request)
        return Unauthorized(api)

    @staticmethod
    def _location_without_token(request: Request) -> bytes:
        path = b"/" + (request.path or b"/").lstrip(b"/")  # never //host: no open redirect
        rest = [
            (k, v) for k, values in request.args.items() if k != b"token" for v in values
        ]
        return path + (b"?" + urlencode(rest).encode() if rest else b"")

"""Who may use a logship web surface (archie's site, the porter's API): Host, token, Origin, Content-Type.

archie and the porter's JSON API put their resources behind a L{Guard},
which answers a request only if it passes, in this order
(C{docs/security.md}, "Web surfaces"):

  1. **Host.**  Its C{Host} header names this server: the address the
     connection came in on (an IP address), C{localhost} or any loopback
     address when that address is loopback, or one of the names the
     operator configured (L{PublicName}: archie's C{--public-name}, the
     porter's C{--api-public-name}).  Anything else gets 403, so a page of
     another site whose name was made to resolve to this address (DNS
     rebinding) reads nothing.  The port is checked only for a configured
     name that gives one (a tunnel or a proxy may change it).
  2. **Token.**  When the server has one (L{read_token}), the request
     presents it: C{Authorization: Bearer TOKEN} (a subclass may accept
     more: archie's page cookie); else 401.
  3. **State changes.**  A request other than GET, HEAD or OPTIONS sends
     a JSON body (C{Content-Type: application/json}; else 415: a form or
     a C{no-cors} C{text/plain} POST from another site is refused) and,
     unless it presents the token as a bearer, an C{Origin} header, if it
     sends one, of this server (the same host and port as its C{Host}, or
     a configured name; else 403).  Scripts send no C{Origin}; browsers
     do on every POST.

Tokens are compared with L{hmac.compare_digest}.  Every answer carries
L{SECURITY_HEADERS}.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from twisted.python import usage
from twisted.web.resource import Resource
from twisted.web.server import Request

from logship.plumbing.jsonapi import error_answer

#: The shortest token accepted.
MIN_TOKEN = 16
_TOKEN_CHARS = frozenset(
    chr(c) for c in range(0x21, 0x7F) if chr(c) not in "\"',;\\"
)
#: Methods that change nothing (the others must pass step 3).
SAFE_METHODS = frozenset({b"GET", b"HEAD", b"OPTIONS"})

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

#: A DNS name (or an IPv4 address); underscores as container names have them.
_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*")


def read_token(path: Path, option: str = "--token") -> str:
    """
    Read a token file: one line of at least L{MIN_TOKEN} printable ASCII
    characters without spaces, quotes, commas, semicolons or backslashes,
    in a file not readable by group or others.

    @param option: the option that named the file, for the messages.
    @return: the token.
    @raise usage.UsageError: the file is missing, readable by group or
        others, or does not hold one acceptable token.
    """
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as e:
        raise usage.UsageError(f"{option} {path}: {e.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise usage.UsageError(
            f"{option} {path}: readable by group or others (mode"
            f" {stat.S_IMODE(mode):o}); chmod 600 it"
        )
    token = text.strip()
    if len(token) < MIN_TOKEN or not set(token) <= _TOKEN_CHARS:
        raise usage.UsageError(
            f"{option} {path}: expected one line of at least {MIN_TOKEN} printable"
            " ASCII characters without spaces, quotes, commas, semicolons or"
            " backslashes (e.g. from secrets.token_urlsafe(32))"
        )
    return token


def split_host(text: str) -> tuple[str, int | None]:
    """
    Split a C{Host} header (or a configured name) into its host, lower
    case and without the brackets of an IPv6 address, and its port.

    @raise ValueError: it is not C{HOST}, C{HOST:PORT}, C{[V6]} or
        C{[V6]:PORT} with a valid name or address.
    """
    text = text.strip().lower()
    port_text: str | None = None
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"{text!r} is not a host")
        ipaddress.IPv6Address(host.split("%")[0])
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text = text.partition(":")
        if not colon:
            port_text = None
        if not _HOST_NAME.fullmatch(host):
            raise ValueError(f"{text!r} is not a host name or address")
    port: int | None = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"{text!r}: the port must be 1 to 65535")
        port = int(port_text)
    return host, port


@dataclass(frozen=True)
class PublicName:
    """
    A name clients may reach a server under besides its address (a DNS
    name of a proxy or a NAT), with or without a port.

    @ivar host: the name (or address), lower case.
    @ivar port: the port it must come with, or C{None} for any.
    """

    host: str
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> PublicName:
        """
        Read C{NAME} or C{NAME:PORT} (an option's value).

        @raise ValueError: it is neither.
        """
        return cls(*split_host(text))

    def matches(self, host: str, port: int | None) -> bool:
        """
        Whether C{host} and C{port} (of a C{Host} or an C{Origin}) are this
        name.
        """
        return host == self.host and (self.port is None or port == self.port)


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def host_allowed(host_header: str, local: object, names: Sequence[PublicName]) -> bool:
    """
    Step 1: whether a request's C{Host} names this server.

    @param host_header: the C{Host} header.
    @param local: the connection's local address (C{request.getHost()}).
    @param names: the configured names.
    """
    try:
        host, port = split_host(host_header)
    except ValueError:
        return False
    if any(name.matches(host, port) for name in names):
        return True
    address = getattr(local, "host", None)
    if address is None:  # a UNIX socket: this machine
        here, loopback = None, True
    else:
        here = _address(str(address))
        loopback = here is not None and here.is_loopback
    if host == "localhost":
        return loopback
    given = _address(host)
    if given is None:
        return False
    return given == here or (loopback and given.is_loopback)


def origin_allowed(origin: str, host_header: str, names: Sequence[PublicName]) -> bool:
    """
    Step 3: whether a request's C{Origin} is this server: the scheme's
    host and port are those of the request's C{Host} (which passed step 1),
    or a configured name.  C{null} (a sandboxed frame, a file) is not.
    """
    try:
        parts = urlsplit(origin.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        origin_host, origin_port = parts.hostname.lower(), parts.port
        host, port = split_host(host_header)
    except ValueError:
        return False
    default = 443 if parts.scheme == "https" else 80
    origin_port = origin_port or default
    if any(name.matches(origin_host, origin_port) for name in names):
        return True
    return (origin_host, origin_port) == (host, port or default)


def json_content(content_type: str | None) -> bool:
    """
    Whether a C{Content-Type} says JSON (C{application/json}, with any
    parameters such as C{charset}).
    """
    if content_type is None:
        return False
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


def bearer(request: Request) -> bytes | None:
    """
    The token of a request's C{Authorization: Bearer TOKEN}, if it has one.
    """
    header = request.getHeader(b"authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(b" ")
    if scheme.lower() != b"bearer":
        return None
    return value.strip()


def same_token(given: bytes | None, token: bytes) -> bool:
    """
    Whether C{given} is C{token} (in constant time).
    """
    return given is not None and hmac.compare_digest(given, token)


class Refused(Resource):
    """
    A refusal: a status and a JSON C{{"error": WHY, "parameter": NAME}}.
    """

    isLeaf = True

    def __init__(self, status: int, why: str, parameter: str,
                 headers: dict[bytes, bytes] | None = None) -> None:
        """
        @param status: the HTTP status.
        @param why: what is wrong, and how to do it right.
        @param parameter: what was wrong (C{host}, C{token}, C{origin},
            C{content-type}).
        @param headers: more headers of the answer.
        """
        super().__init__()
        self._status = status
        self._why = why
        self._parameter = parameter
        self._headers = headers or {}

    def render(self, request: Request) -> bytes:
        for name, value in self._headers.items():
            request.setHeader(name, value)
        return error_answer(request, self._status, self._why, self._parameter)


class Guard(Resource):
    """
    The root resource of a web surface: adds L{SECURITY_HEADERS} to every
    answer and hands C{wrapped} only the requests that pass the checks of
    the module docstring.
    """

    def __init__(self, wrapped: Resource, token: str | None,
                 names: Sequence[PublicName] = (), *, realm: str,
                 name_option: str = "--public-name") -> None:
        """
        @param wrapped: the real root.
        @param token: the token requests must present, or C{None} to let
            in whoever passes the other checks (loopback).
        @param names: the names clients may use besides the address.
        @param realm: the server's name, in messages and in
            C{WWW-Authenticate}.
        @param name_option: the option that adds names, for the messages.
        """
        super().__init__()
        self._wrapped = wrapped
        self._token = None if token is None else token.encode("ascii")
        self._names = tuple(names)
        self.realm = realm
        self._name_option = name_option

    def getChildWithDefault(self, path: bytes, request: Request) -> Any:
        for name, value in SECURITY_HEADERS.items():
            request.setHeader(name, value)
        refusal = self.refusal(path, request)
        if refusal is not None:
            return refusal
        return self._wrapped.getChildWithDefault(path, request)

    def refusal(self, path: bytes, request: Request) -> Resource | None:
        """
        What answers a request that does not pass, or C{None} if it does.

        @param path: the first segment of its path.
        """
        host = (request.getHeader(b"host") or b"").decode("latin-1")
        if not host_allowed(host, request.getHost(), self._names):
            return Refused(
                403,
                f"Host {host[:100]!r} is not a name of this {self.realm}: use its"
                f" address, or list the name with {self._name_option}",
                "host",
            )
        if self._token is not None:
            refused = self.token_refusal(path, request)
            if refused is not None:
                return refused
        if request.method not in SAFE_METHODS:
            return self._change_refusal(request, host)
        return None

    def token_refusal(self, path: bytes, request: Request) -> Resource | None:
        """
        Step 2 (when there is a token): the refusal of a request that does
        not present it, else C{None}.  Here only as a bearer token.
        """
        if self.has_bearer(request):
            return None
        return Refused(
            401, "a token is required: send Authorization: Bearer TOKEN", "token",
            {b"www-authenticate": f'Bearer realm="{self.realm}"'.encode()},
        )

    def has_bearer(self, request: Request) -> bool:
        """
        Whether the request presents the token as a bearer token.
        """
        return self._token is not None and same_token(bearer(request), self._token)

    def _change_refusal(self, request: Request, host: str) -> Resource | None:
        content_type = request.getHeader(b"content-type")
        if not json_content(None if content_type is None else content_type.decode("latin-1")):
            return Refused(
                415,
                f"send the body as JSON (Content-Type: application/json), not"
                f" {(content_type or b'nothing').decode('latin-1')[:80]!r}",
                "content-type",
            )
        origin = request.getHeader(b"origin")
        if origin is None or self.has_bearer(request):
            return None
        if not origin_allowed(origin.decode("latin-1"), host, self._names):
            return Refused(
                403,
                f"a page of {origin.decode('latin-1')[:100]!r} may not change anything"
                f" here: only this {self.realm}'s own pages may",
                "origin",
            )
        return None

"""Who may use archie: the checks of every logship web surface, and the page's token cookie.

archie's site sits behind a L{PageGuard}, a L{logship.plumbing.webaccess.Guard}:
a request must name archie in its C{Host} (its address, C{localhost} on
loopback, or a C{--public-name}), present the token if archie has one, and,
to change anything (C{POST /api/history}), send JSON from archie's own
page or a script.  archie listens on 127.0.0.1 by default; bound to any
other interface it needs C{--token FILE} (L{logship.plumbing.webaccess.read_token}).
With a token, every request must present it, in one of three ways:

  1. C{Authorization: Bearer TOKEN} (API clients, C{curl -H});
  2. the cookie C{archie_token=TOKEN}, which the page sets by itself:
  3. open C{http://HOST:PORT/?token=TOKEN} once: archie checks it, sets
     the cookie (C{HttpOnly; SameSite=Strict}, C{Secure} over TLS) and
     redirects to the same address without the token, so that it does not
     stay in the address bar, the history or a Referer.

A request without a valid token gets 401 (JSON under C{/api/}, a short
HTML page elsewhere).  The cookie is C{SameSite=Strict}, so another site
cannot make a browser send it; and as a site is not an origin (another
port of the same host is the same site), a POST with the cookie still
needs archie's own C{Origin}: only the bearer token stands in for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from twisted.web.resource import Resource
from twisted.web.server import Request

from logship.plumbing.webaccess import Guard, PublicName, same_token

#: The cookie that carries the token.
COOKIE = b"archie_token"


class Unauthorized(Resource):
    """
    The answer to a page request without a valid token: 401, a short HTML
    page that says what to do.
    """

    isLeaf = True

    def render(self, request: Request) -> bytes:
        request.setResponseCode(401)
        request.setHeader(b"cache-control", b"no-store")
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


class PageGuard(Guard):
    """
    archie's root resource: the checks of L{Guard}, with the token also
    taken from the cookie, and set by C{/?token=} (see the module
    docstring).
    """

    def __init__(self, wrapped: Resource, token: str | None,
                 names: Sequence[PublicName] = ()) -> None:
        """
        @param wrapped: the real root (page and API).
        @param token: the token, or C{None} to let in whoever passes the
            other checks (loopback).
        @param names: the C{--public-name}s.
        """
        super().__init__(wrapped, token, names, realm="archie")

    def token_refusal(self, path: bytes, request: Request) -> Resource | None:
        assert self._token is not None
        api = path == b"api"
        given = request.args.get(b"token")
        if given is not None and not api:
            if len(given) == 1 and same_token(given[0], self._token):
                request.addCookie(
                    COOKIE, self._token, path=b"/", httpOnly=True,
                    secure=request.isSecure(), sameSite="strict",
                )
                return _Redirect(self._location_without_token(request))
            return Unauthorized()
        if same_token(request.getCookie(COOKIE), self._token):
            return None
        if api:
            return super().token_refusal(path, request)
        return None if self.has_bearer(request) else Unauthorized()

    @staticmethod
    def _location_without_token(request: Request) -> bytes:
        path = b"/" + (request.path or b"/").lstrip(b"/")  # never //host: no open redirect
        rest = [
            (k, v) for k, values in request.args.items() if k != b"token" for v in values
        ]
        return path + (b"?" + urlencode(rest).encode() if rest else b"")

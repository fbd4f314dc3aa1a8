"""Tests for L{logship.archie.access}: archie's guard, with the page's token cookie."""

from __future__ import annotations

import json

from twisted.internet.address import IPv4Address
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource, getChildForRequest
from twisted.web.test.requesthelper import DummyRequest

from logship.archie.access import COOKIE, PageGuard

TOKEN = "a-token-of-the-tests-0123456789"


class _Ok(Resource):
    isLeaf = True

    def render(self, request: DummyRequest) -> bytes:
        return b"ok"


class PageGuardTests(SynchronousTestCase):
    def setUp(self) -> None:
        root = Resource()
        root.putChild(b"api", _Ok())
        root.putChild(b"index.html", _Ok())
        self.guard = PageGuard(root, TOKEN)

    def call(self, path: bytes, method: bytes = b"GET", cookie: str | None = None,
             **headers: str) -> tuple[int, bytes]:
        request = DummyRequest([path])
        request.method = method
        request.getHost = lambda: IPv4Address("TCP", "127.0.0.1", 4480)  # type: ignore[method-assign]
        headers.setdefault("host", "127.0.0.1:4480")
        for name, value in headers.items():
            request.requestHeaders.setRawHeaders(name.replace("_", "-"), [value])
        cookies = {} if cookie is None else {COOKIE: cookie.encode()}
        request.getCookie = cookies.get  # type: ignore[attr-defined]
        body = getChildForRequest(self.guard, request).render(request)
        return request.responseCode or 200, body

    def test_cookie_or_bearer(self) -> None:
        """
        The cookie lets the page and the API in; a wrong one gets 401, in
        HTML for the page and JSON for the API.
        """
        self.assertEqual(self.call(b"api", cookie=TOKEN), (200, b"ok"))
        self.assertEqual(self.call(b"index.html", cookie=TOKEN), (200, b"ok"))
        self.assertEqual(self.call(b"index.html", authorization=f"Bearer {TOKEN}"),
                         (200, b"ok"))
        code, body = self.call(b"api", cookie="nope")
        self.assertEqual((code, json.loads(body)["parameter"]), (401, "token"))
        code, body = self.call(b"index.html", cookie="nope")
        self.assertEqual(code, 401)
        self.assertIn(b"?token=TOKEN", body)

    def test_cookie_is_not_an_origin(self) -> None:
        """
        A POST with the cookie still needs archie's Origin (another port of
        the same host is the same site, so it may send the cookie); the
        bearer token stands in for it.
        """
        json_type = "application/json"
        code, body = self.call(b"api", b"POST", cookie=TOKEN, content_type=json_type,
                               origin="http://127.0.0.1:8000")
        self.assertEqual((code, json.loads(body)["parameter"]), (403, "origin"))
        self.assertEqual(self.call(b"api", b"POST", cookie=TOKEN, content_type=json_type,
                                   origin="http://127.0.0.1:4480"), (200, b"ok"))
        self.assertEqual(self.call(b"api", b"POST", content_type=json_type,
                                   origin="http://127.0.0.1:8000",
                                   authorization=f"Bearer {TOKEN}"), (200, b"ok"))

    def test_host_before_token(self) -> None:
        """
        A foreign Host is refused before anything else, even with the
        token in the address.
        """
        code, body = self.call(b"index.html", host="rebound.evil.example:4480")
        self.assertEqual((code, json.loads(body)["parameter"]), (403, "host"))

"""Tests for L{logship.plumbing.webaccess}: the Host, token, Origin and Content-Type checks of the web surfaces."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource, getChildForRequest
from twisted.web.test.requesthelper import DummyRequest

from logship.plumbing.webaccess import (
    SECURITY_HEADERS,
    Guard,
    PublicName,
    host_allowed,
    json_content,
    origin_allowed,
    read_token,
    split_host,
)

TOKEN = "a-token-of-the-tests-0123456789"
LOOPBACK = IPv4Address("TCP", "127.0.0.1", 4480)
LAN = IPv4Address("TCP", "192.0.2.5", 4480)


class HostTests(SynchronousTestCase):
    def test_split_host(self) -> None:
        for text, expected in [
            ("127.0.0.1:4480", ("127.0.0.1", 4480)),
            ("LocalHost", ("localhost", None)),
            ("[::1]:80", ("::1", 80)),
            ("[::1]", ("::1", None)),
            ("logs.example.com", ("logs.example.com", None)),
            ("my_service:4490", ("my_service", 4490)),
        ]:
            self.assertEqual(split_host(text), expected, text)
        for bad in ("", ":80", "a b", "x:0", "x:65536", "x:port", "[::1", "[nope]:1",
                    "[::1]x", "evil.com/", "a..b", "-a.b"):
            with self.assertRaises(ValueError, msg=bad):
                split_host(bad)

    def test_public_name(self) -> None:
        """
        A name without a port matches on any port; with one, only on it.
        """
        any_port = PublicName.parse("Logs.Example.com")
        self.assertTrue(any_port.matches("logs.example.com", 443))
        self.assertTrue(any_port.matches("logs.example.com", None))
        one_port = PublicName.parse("logs.example.com:8443")
        self.assertTrue(one_port.matches("logs.example.com", 8443))
        self.assertFalse(one_port.matches("logs.example.com", 443))
        self.assertFalse(one_port.matches("evil.example.com", 8443))

    def test_loopback_server(self) -> None:
        """
        On loopback: the address, C{localhost} and loopback addresses, on
        any port; no other name.
        """
        for host in ("127.0.0.1:4480", "127.0.0.1", "localhost:4480", "LOCALHOST:8080",
                     "[::1]:4480", "127.0.0.2:4480"):
            self.assertTrue(host_allowed(host, LOOPBACK, ()), host)
        for host in ("evil.example:4480", "localhost.evil.example", "192.0.2.5:4480",
                     "", "127.0.0.1:4480, evil", "0x7f000001"):
            self.assertFalse(host_allowed(host, LOOPBACK, ()), host)

    def test_other_address(self) -> None:
        """
        Beyond loopback: the address the connection came in on, or a
        configured name; not C{localhost}.
        """
        self.assertTrue(host_allowed("192.0.2.5:4480", LAN, ()))
        for host in ("localhost:4480", "127.0.0.1:4480", "192.0.2.6:4480",
                     "logs.example.com"):
            self.assertFalse(host_allowed(host, LAN, ()), host)
        names = [PublicName.parse("logs.example.com")]
        self.assertTrue(host_allowed("logs.example.com", LAN, names))
        self.assertTrue(host_allowed("LOGS.example.com:443", LAN, names))

    def test_ipv6_and_unix(self) -> None:
        """
        An IPv4 connection to a dual-stack socket counts as its IPv4
        address; a UNIX socket is this machine.
        """
        mapped = IPv6Address("TCP", "::ffff:127.0.0.1", 4480)
        self.assertTrue(host_allowed("127.0.0.1:4480", mapped, ()))
        self.assertTrue(host_allowed("localhost", mapped, ()))
        unix = UNIXAddress(b"/run/archie.sock")
        self.assertTrue(host_allowed("localhost", unix, ()))
        self.assertFalse(host_allowed("evil.example", unix, ()))
        self.assertTrue(host_allowed("logs.example.com", unix, [PublicName("logs.example.com")]))

    def test_origin(self) -> None:
        """
        An Origin is this server's when its host and port are the Host's
        (a missing port is the scheme's) or a configured name's.
        """
        host = "127.0.0.1:4480"
        self.assertTrue(origin_allowed("http://127.0.0.1:4480", host, ()))
        self.assertTrue(origin_allowed("https://logs.example.com", "logs.example.com", ()))
        self.assertTrue(origin_allowed("http://logs.example.com", "logs.example.com:80", ()))
        for origin in ("http://127.0.0.1:4481", "http://evil.example", "null", "",
                       "file://", "http://localhost:4480", "ftp://127.0.0.1:4480",
                       "http://127.0.0.1:99999"):
            self.assertFalse(origin_allowed(origin, host, ()), origin)
        names = [PublicName.parse("logs.example.com")]
        self.assertTrue(origin_allowed("https://logs.example.com", host, names))

    def test_json_content(self) -> None:
        for value in ("application/json", "Application/JSON; charset=utf-8"):
            self.assertTrue(json_content(value), value)
        for value in (None, "", "text/plain", "application/x-www-form-urlencoded",
                      "multipart/form-data; boundary=x", "application/jsonp"):
            self.assertFalse(json_content(value), value)


class ReadTokenTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.path = self.tmp / "token"

    def write(self, text: str, mode: int = 0o600) -> Path:
        self.path.write_text(text)
        os.chmod(self.path, mode)
        return self.path

    def test_read(self) -> None:
        self.assertEqual(read_token(self.write("  " + TOKEN + "\n\n", 0o400)), TOKEN)

    def test_refused(self) -> None:
        """
        A missing file, one readable by others, a short token or one with
        a character a cookie or a header cannot carry: a usage error
        naming the option.
        """
        for text, mode, message in [
            (TOKEN, 0o644, "readable by group or others"),
            ("short", 0o600, "at least 16"),
            (TOKEN + ";x", 0o600, "semicolons"),
            (TOKEN + " x", 0o600, "without spaces"),
        ]:
            with self.assertRaises(usage.UsageError) as caught:
                read_token(self.write(text, mode), "--api-token")
            self.assertIn(message, str(caught.exception))
            self.assertIn("--api-token", str(caught.exception))
        with self.assertRaises(usage.UsageError) as caught:
            read_token(self.tmp / "nope")
        self.assertIn("No such file", str(caught.exception))


class _Ok(Resource):
    isLeaf = True

    def render(self, request: DummyRequest) -> bytes:
        return b"ok"


class GuardTests(SynchronousTestCase):
    def guard(self, token: str | None = None, names: tuple[PublicName, ...] = ()) -> Guard:
        root = Resource()
        root.putChild(b"api", _Ok())
        return Guard(root, token, names, realm="test", name_option="--test-name")

    def call(self, guard: Guard, method: bytes = b"GET", local: object = LOOPBACK,
             **headers: str) -> tuple[int, bytes, DummyRequest]:
        request = DummyRequest([b"api"])
        request.method = method
        request.getHost = lambda: local  # type: ignore[method-assign]
        headers.setdefault("host", "127.0.0.1:4480")
        for name, value in headers.items():
            request.requestHeaders.setRawHeaders(name.replace("_", "-"), [value])
        resource = getChildForRequest(guard, request)
        body = resource.render(request)
        return request.responseCode or 200, body, request

    def test_headers_and_pass(self) -> None:
        """
        A good request reaches the resource; every answer has the
        security headers.
        """
        code, body, request = self.call(self.guard())
        self.assertEqual((code, body), (200, b"ok"))
        for name, value in SECURITY_HEADERS.items():
            self.assertEqual(request.responseHeaders.getRawHeaders(name), [value])

    def test_foreign_host(self) -> None:
        """
        A Host that is not this server: 403 naming the option that would
        allow it; a configured name passes.
        """
        code, body, _ = self.call(self.guard(), host="rebound.evil.example:4480")
        self.assertEqual(code, 403)
        answer = json.loads(body)
        self.assertEqual(answer["parameter"], "host")
        self.assertIn("--test-name", answer["error"])
        code, _, _ = self.call(self.guard(), host="")
        self.assertEqual(code, 403)
        names = (PublicName.parse("logs.example.com"),)
        code, _, _ = self.call(self.guard(names=names), host="logs.example.com")
        self.assertEqual(code, 200)
        code, _, _ = self.call(self.guard(TOKEN), host="evil.example",
                               authorization=f"Bearer {TOKEN}")
        self.assertEqual(code, 403)

    def test_token(self) -> None:
        """
        With a token: 401 without it or with a wrong one, as JSON with
        C{WWW-Authenticate}; the bearer passes.
        """
        guard = self.guard(TOKEN)
        for headers in ({}, {"authorization": "Bearer wrong-token-0123456789"},
                        {"authorization": f"Basic {TOKEN}"}):
            code, body, request = self.call(guard, **headers)
            self.assertEqual((code, json.loads(body)["parameter"]), (401, "token"), headers)
            self.assertEqual(request.responseHeaders.getRawHeaders("www-authenticate"),
                             ['Bearer realm="test"'])
        code, body, _ = self.call(guard, authorization=f"Bearer {TOKEN}")
        self.assertEqual((code, body), (200, b"ok"))

    def test_changes_need_json(self) -> None:
        """
        A POST without a JSON Content-Type (a form, a no-cors text/plain
        POST): 415, with or without an Origin, even with the token.
        """
        for content_type in (None, "text/plain", "application/x-www-form-urlencoded"):
            headers = {} if content_type is None else {"content_type": content_type}
            code, body, _ = self.call(self.guard(), b"POST", **headers)
            self.assertEqual((code, json.loads(body)["parameter"]), (415, "content-type"))
            code, _, _ = self.call(self.guard(TOKEN), b"POST", origin="http://127.0.0.1:4480",
                                   authorization=f"Bearer {TOKEN}", **headers)
            self.assertEqual(code, 415)
        code, body, _ = self.call(self.guard(), b"POST", content_type="application/json")
        self.assertEqual((code, body), (200, b"ok"))

    def test_changes_need_this_origin(self) -> None:
        """
        A JSON POST from a page of another origin (another site, another
        port of this host, a sandboxed frame): 403; from this server's
        page, or with the bearer token, it passes.
        """
        json_type = "application/json"
        for origin in ("http://evil.example", "http://127.0.0.1:8000", "null"):
            code, body, _ = self.call(self.guard(), b"POST", content_type=json_type,
                                      origin=origin)
            self.assertEqual((code, json.loads(body)["parameter"]), (403, "origin"), origin)
        code, _, _ = self.call(self.guard(), b"POST", content_type=json_type,
                               origin="http://127.0.0.1:4480")
        self.assertEqual(code, 200)
        code, _, _ = self.call(self.guard(TOKEN), b"POST", content_type=json_type,
                               origin="http://evil.example", authorization=f"Bearer {TOKEN}")
        self.assertEqual(code, 200)

    def test_safe_methods(self) -> None:
        """
        GET and HEAD change nothing: no Content-Type or Origin needed.
        """
        for method in (b"GET", b"HEAD"):
            code, _, _ = self.call(self.guard(), method, origin="http://evil.example")
            self.assertEqual(code, 200)

"""The C{s3://} archive: any S3-compatible store, over HTTP on the reactor.

txaws does not import on Python 3, so requests are signed with botocore
(SigV4: L{botocore.auth.S3SigV4Auth} over an L{botocore.awsrequest.AWSRequest},
with botocore's credentials) and sent with treq, on the reactor: no thread
pool and no blocking call once the archive is made (only resolving the
credentials at start may block).  See C{docs/archive.md} for the choice
against boto3 in threads.

Requests, path-style (C{ENDPOINT/BUCKET/KEY}) for a custom endpoint,
virtual-hosted for AWS itself:

  1. PUT the object with C{Content-MD5} and C{x-amz-content-sha256} (the
     payload is signed, so the store checks both digests);
  2. GET it back and compare its sha256 with the data given (L{verify});
     only then does C{put} succeed;
  3. GET (get), HEAD (exists), DELETE (delete), ListObjectsV2 with
     continuation tokens until the listing is complete (keys), the XML
     parsed with the stdlib.

Each request is retried with backoff (an injected clock) on a connection
error, a timeout, HTTP 5xx or 429; any other answer is final.  After the
last attempt the error says what was tried and the last reason.
"""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from twisted.application.internet import backoffPolicy
from twisted.internet import error as internet_error
from twisted.internet.defer import CancelledError, Deferred, maybeDeferred
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.web._newclient import (
    RequestNotSent,
    RequestTransmissionFailed,
    ResponseFailed,
    ResponseNeverReceived,
)
from twisted.web.iweb import UNKNOWN_LENGTH
from zope.interface import implementer

from logship.archive import ArchiveError, IArchive, MissingObject, check_key, sha256_hex, verify

#: Failures of a request that are worth another attempt.
_RETRYABLE = (
    OSError,
    internet_error.ConnectError,
    internet_error.ConnectionLost,
    internet_error.ConnectionDone,
    internet_error.TimeoutError,
    internet_error.ConnectingCancelledError,
    ResponseFailed,
    ResponseNeverReceived,
    RequestTransmissionFailed,
    RequestNotSent,
    CancelledError,
)

#: Largest object read back or fetched by default (as L{logship.core.pack}'s
#: largest body).
DEFAULT_MAX_OBJECT = 1 << 30

#: Largest error or listing body read.
_MAX_SMALL_BODY = 16 << 20

#: Characters left as they are in a path or query (SigV4's unreserved).
_UNRESERVED = "-_.~"


def _describe(failure: BaseException) -> str:
    """
    A one-line reason for a request failure (the reasons inside treq's
    wrappers, which say nothing themselves).
    """
    reasons = getattr(failure, "reasons", None)
    if reasons:
        return "; ".join(r.getErrorMessage() for r in reasons)
    if isinstance(failure, (CancelledError, internet_error.ConnectingCancelledError)):
        return "timed out"
    return f"{type(failure).__name__}: {failure}"


def error_text(body: bytes) -> str:
    """
    The C{Code: Message} of an S3 error document, else the start of the
    body.
    """
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return body[:200].decode("utf-8", "replace")
    code = root.findtext("{*}Code") or root.findtext("Code") or ""
    message = root.findtext("{*}Message") or root.findtext("Message") or ""
    return f"{code}: {message}" if code or message else body[:200].decode("utf-8", "replace")


def parse_listing(body: bytes) -> tuple[list[str], str | None]:
    """
    Parse one ListObjectsV2 answer.

    @return: the keys on this page, and the continuation token of the next
        page (C{None} on the last one).
    @raise ArchiveError: not a listing.
    """
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as e:
        raise ArchiveError(f"s3 listing is not XML: {e}") from None
    if root.tag.rsplit("}", 1)[-1] != "ListBucketResult":
        raise ArchiveError(f"s3 listing has root element {root.tag!r}, not ListBucketResult")
    keys = [c.findtext("{*}Key") or c.findtext("Key") or "" for c in _children(root, "Contents")]
    truncated = (root.findtext("{*}IsTruncated") or root.findtext("IsTruncated") or "").strip()
    token = root.findtext("{*}NextContinuationToken") or root.findtext("NextContinuationToken")
    if truncated == "true":
        if not token:
            raise ArchiveError("s3 listing is truncated but gives no continuation token")
        return keys, token
    return keys, None


def _children(root: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    return [child for child in root if child.tag.rsplit("}", 1)[-1] == name]


@implementer(IArchive)
class S3Archive:
    """
    An archive in one bucket of an S3-compatible store, under a key prefix.

    @ivar bucket: the bucket.
    @ivar prefix: the prefix of every object key (empty, or ends with C{/}).
    """

    _log = Logger()

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        credentials: Any,
        endpoint: str | None = None,
        region: str = "us-east-1",
        reactor: Any = None,
        clock: Any = None,
        attempts: int = 5,
        retry_delay: Callable[[int], float] | None = None,
        timeout: float = 60.0,
        max_keys: int = 1000,
        max_object: int = DEFAULT_MAX_OBJECT,
        after_write: Callable[[str], object] | None = None,
    ) -> None:
        """
        @param bucket: the bucket name.
        @param prefix: a key prefix (slashes at its ends are ignored).
        @param credentials: botocore credentials (anything with
            C{get_frozen_credentials()}); read again for every request, so
            refreshable ones are refreshed.
        @param endpoint: C{http://HOST:PORT} or C{https://...} of the store,
            addressed path-style; C{None} for AWS (virtual-hosted style).
        @param region: the signing region.
        @param reactor: for the HTTP connections (default: the global one).
        @param clock: for the retry delays and timeouts (default: C{reactor}).
        @param attempts: tries per request, at least 1.
        @param retry_delay: the delay before retry C{n} (0 for the first
            retry); default: exponential backoff from 0.5 s, at most 10 s,
            with jitter.
        @param timeout: seconds for one attempt.
        @param max_keys: the page size of a listing (S3 gives at most 1000).
        @param max_object: the largest object read, in bytes.
        @param after_write: called with the key between the PUT and its
            read-back (tests use it to change the object); may return a
            Deferred.
        """
        import treq
        from twisted.web.client import Agent, HTTPConnectionPool

        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.bucket = bucket
        prefix = prefix.strip("/")
        self.prefix = prefix + "/" if prefix else ""
        self._credentials = credentials
        self._region = region
        self._reactor = reactor
        self._clock = reactor if clock is None else clock
        self._attempts = attempts
        self._retry_delay = retry_delay or backoffPolicy(0.5, 10.0, 2.0)
        self._timeout = timeout
        self._max_keys = max_keys
        self._max_object = max_object
        self._after_write = after_write
        if endpoint is None:
            self._base = f"https://{bucket}.s3.{region}.amazonaws.com"
            self._bucket_path = ""
        else:
            self._base = endpoint.rstrip("/")
            self._bucket_path = "/" + bucket
        self._pool = HTTPConnectionPool(reactor, persistent=True)
        self._http = treq.client.HTTPClient(Agent(reactor, pool=self._pool))

    @classmethod
    def from_environment(
        cls,
        bucket: str,
        prefix: str = "",
        *,
        endpoint: str | None = None,
        region: str | None = None,
        reactor: Any = None,
    ) -> "S3Archive":
        """
        An archive whose credentials and default region come from botocore's
        chain: the C{AWS_ACCESS_KEY_ID}, C{AWS_SECRET_ACCESS_KEY} and
        C{AWS_SESSION_TOKEN} variables first, then the shared files and the
        other usual sources; C{AWS_DEFAULT_REGION} (or the config file)
        when C{region} is not given, else C{us-east-1}.

        @raise ArchiveError: no credentials were found.
        """
        import botocore.session

        session = botocore.session.Session()
        credentials = session.get_credentials()
        if credentials is None:
            raise ArchiveError(
                "no AWS credentials for the s3 archive: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones)"
            )
        region = region or session.get_config_variable("region") or "us-east-1"
        return cls(
            bucket, prefix, credentials=credentials, endpoint=endpoint, region=region, reactor=reactor
        )

    def __repr__(self) -> str:
        return f"S3Archive({self._base}{self._bucket_path}, prefix={self.prefix!r})"

    # -- requests ---------------------------------------------------------

    def _url(self, key: str | None, query: dict[str, str] | None = None) -> str:
        path = self._bucket_path
        if key is not None:
            path += "/" + quote(self.prefix + key, safe="/" + _UNRESERVED)
        url = self._base + (path or "/")
        if query:
            url += "?" + "&".join(
                f"{quote(k, safe=_UNRESERVED)}={quote(v, safe=_UNRESERVED)}"
                for k, v in sorted(query.items())
            )
        return url

    def _signed_headers(
        self, method: str, url: str, data: bytes, headers: dict[str, str]
    ) -> dict[bytes | str, bytes | str]:
        request = AWSRequest(method=method, url=url, data=data, headers=dict(headers))
        S3SigV4Auth(self._credentials.get_frozen_credentials(), "s3", self._region).add_auth(request)
        return {name: value for name, value in request.headers.items()}

    async def _send(
        self,
        method: str,
        what: str,
        key: str | None,
        *,
        query: dict[str, str] | None = None,
        data: bytes = b"",
        headers: dict[str, str] | None = None,
        max_body: int = _MAX_SMALL_BODY,
    ) -> tuple[int, bytes]:
        """
        One request, retried as the module docstring says.

        @return: the final status and body.
        @raise ArchiveError: every attempt failed, or the body is too large.
        """
        url = self._url(key, query)
        reason = ""
        for attempt in range(self._attempts):
            if attempt:
                delay = self._retry_delay(attempt - 1)
                self._log.info(
                    "s3 {what}: attempt {attempt} failed ({reason}), retrying in {delay:.2f} s",
                    what=what,
                    attempt=attempt,
                    reason=reason,
                    delay=delay,
                )
                await deferLater(self._clock, delay, lambda: None)
            signed = self._signed_headers(method, url, data, headers or {})
            try:
                response = await self._http.request(
                    method,
                    url,
                    headers=signed,
                    data=data if data else None,
                    allow_redirects=False,
                    reactor=self._clock,
                    timeout=self._timeout,
                )
                if response.length is not UNKNOWN_LENGTH and response.length > max_body:
                    raise ArchiveError(
                        f"s3 {what}: the answer is {response.length} bytes, more than {max_body}"
                    )
                body = await response.content()
            except _RETRYABLE as e:
                reason = _describe(e)
                continue
            if len(body) > max_body:
                raise ArchiveError(f"s3 {what}: the answer is {len(body)} bytes, more than {max_body}")
            if response.code >= 500 or response.code == 429:
                reason = f"HTTP {response.code} {error_text(body)}"
                continue
            return response.code, body
        raise ArchiveError(
            f"s3 {what} at {self._base} failed after {self._attempts} attempts: {reason}"
        )

    def _refused(self, what: str, code: int, body: bytes) -> ArchiveError:
        detail = error_text(body) if body else "(no body)"
        return ArchiveError(f"s3 {what} at {self._base}: HTTP {code} {detail}")

    # -- IArchive ---------------------------------------------------------

    def put(self, key: str, data: bytes) -> Deferred[None]:
        """
        PUT, then GET and compare sha256 (see L{IArchive.put}).
        """
        check_key(key)
        return Deferred.fromCoroutine(self._put(key, bytes(data)))

    async def _put(self, key: str, data: bytes) -> None:
        what = f"put of {key!r} in {self.bucket}"
        digest = hashlib.md5(data, usedforsecurity=False).digest()
        headers = {
            "Content-MD5": base64.b64encode(digest).decode("ascii"),
            "Content-Type": "application/octet-stream",
        }
        code, body = await self._send("PUT", what, key, data=data, headers=headers)
        if code != 200:
            raise self._refused(what, code, body)
        if self._after_write is not None:
            await maybeDeferred(self._after_write, key)
        expected = sha256_hex(data)
        code, body = await self._send("GET", what + " (read-back)", key, max_body=self._max_object)
        if code != 200:
            raise ArchiveError(f"s3 {what}: reading it back gave HTTP {code} {error_text(body)}")
        verify("s3", key, expected, body)
        self._log.debug("Archived {key} ({size} bytes) in s3 {bucket}", key=key, size=len(data), bucket=self.bucket)

    def get(self, key: str) -> Deferred[bytes]:
        """
        See L{IArchive.get}.
        """
        check_key(key)
        return Deferred.fromCoroutine(self._get(key))

    async def _get(self, key: str) -> bytes:
        what = f"get of {key!r} in {self.bucket}"
        code, body = await self._send("GET", what, key, max_body=self._max_object)
        if code == 404:
            raise MissingObject(key)
        if code != 200:
            raise self._refused(what, code, body)
        return body

    def exists(self, key: str) -> Deferred[bool]:
        """
        See L{IArchive.exists} (a HEAD request).
        """
        check_key(key)
        return Deferred.fromCoroutine(self._exists(key))

    async def _exists(self, key: str) -> bool:
        what = f"exists of {key!r} in {self.bucket}"
        code, body = await self._send("HEAD", what, key)
        if code == 404:
            return False
        if code != 200:
            raise self._refused(what, code, body)
        return True

    def keys(self, prefix: str = "") -> Deferred[list[str]]:
        """
        See L{IArchive.keys} (ListObjectsV2, every page).
        """
        check_key(prefix, prefix=True)
        return Deferred.fromCoroutine(self._keys(prefix))

    async def _keys(self, prefix: str) -> list[str]:
        what = f"listing of {prefix!r} in {self.bucket}"
        found: list[str] = []
        token: str | None = None
        pages = 0
        while True:
            query = {"list-type": "2", "prefix": self.prefix + prefix, "max-keys": str(self._max_keys)}
            if token is not None:
                query["continuation-token"] = token
            code, body = await self._send("GET", what, None, query=query)
            if code != 200:
                raise self._refused(what, code, body)
            keys, token = parse_listing(body)
            pages += 1
            for key in keys:
                if not key.startswith(self.prefix):
                    raise ArchiveError(f"s3 {what}: the store listed {key!r}, outside the prefix")
                found.append(key[len(self.prefix) :])
            if token is None:
                break
        self._log.debug("Listed {count} keys in {pages} pages", count=len(found), pages=pages)
        found.sort()
        return found

    def delete(self, key: str) -> Deferred[None]:
        """
        See L{IArchive.delete}.
        """
        check_key(key)
        return Deferred.fromCoroutine(self._delete(key))

    async def _delete(self, key: str) -> None:
        what = f"delete of {key!r} in {self.bucket}"
        code, body = await self._send("DELETE", what, key)
        if code not in (200, 204, 404):
            raise self._refused(what, code, body)

    def close(self) -> Deferred[None]:
        """
        Close the pooled connections.
        """
        closed: Deferred[None] = self._pool.closeCachedConnections()
        return closed

"""The S3 archive's retries and parsing, without a network: a memory reactor.

An unreachable endpoint is played by failing each connection attempt that
the archive makes on a L{MemoryReactorClock}; the retry delays pass on the
same clock.
"""

from __future__ import annotations

from botocore.credentials import Credentials
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from logship.archive import ArchiveError
from logship.archive.s3 import S3Archive, error_text, parse_listing

NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def archive_on(reactor: MemoryReactorClock, **settings: object) -> S3Archive:
    """
    An archive whose endpoint is 127.0.0.1:9 on a memory reactor.
    """
    return S3Archive(
        "logs",
        credentials=Credentials("AKIDTEST", "secret"),
        endpoint="http://127.0.0.1:9",
        reactor=reactor,
        **settings,  # type: ignore[arg-type]
    )


class UnreachableTests(SynchronousTestCase):
    """
    Connection failures are retried with backoff, then reported.
    """

    def refuse_all(self, reactor: MemoryReactorClock) -> int:
        """
        Fail every pending connection attempt; return how many there were.
        """
        attempts = reactor.tcpClients[:]
        del reactor.tcpClients[:]
        for host, port, factory, timeout, bind in attempts:
            self.assertEqual((host, port), ("127.0.0.1", 9))
            factory.clientConnectionFailed(None, Failure(ConnectionRefusedError()))
        return len(attempts)

    def run_until_done(self, reactor: MemoryReactorClock, d: object) -> list[float]:
        """
        Refuse every connection attempt and move the clock to the next
        timer until C{d} has a result.

        @return: the clock time of each connection attempt.
        """
        attempts: list[float] = []
        results: list[object] = []
        d.addBoth(lambda r: results.append(r) or r)  # type: ignore[attr-defined]
        while not results:
            now = reactor.seconds()
            attempts.extend(now for _ in range(self.refuse_all(reactor)))
            if results:
                break
            calls = reactor.getDelayedCalls()
            self.assertTrue(calls, "stuck: no result and no timer")
            reactor.advance(min(c.getTime() for c in calls) - now)
        return attempts

    def test_unreachable(self) -> None:
        """
        Each of the 5 attempts connects once; the delays between them grow
        (0.5 s, then doubling, with jitter); after the last, the put fails
        with ArchiveError naming the endpoint, the count and the reason.
        No timer is left behind.
        """
        reactor = MemoryReactorClock()
        archive = archive_on(reactor)
        d = archive.put("buckets/2026/11/26/09/37.lsp", b"packed")
        attempts = self.run_until_done(reactor, d)
        self.assertEqual(len(attempts), 5)
        failure = self.failureResultOf(d, ArchiveError)
        message = str(failure.value)
        self.assertIn("s3 put of 'buckets/2026/11/26/09/37.lsp' in logs", message)
        self.assertIn("at http://127.0.0.1:9 failed after 5 attempts", message)
        self.assertIn("Connection was refused", message)
        self.assertEqual(reactor.getDelayedCalls(), [])
        gaps = [b - a for a, b in zip(attempts, attempts[1:])]
        self.assertTrue(0.5 <= gaps[0] <= 2.0, gaps)
        # Backoff doubles from 0.5 s; its jitter (up to 1 s) may make one
        # gap shorter than the one before, never shorter than the backoff.
        self.assertTrue(all(gap >= 0.5 * 2**k for k, gap in enumerate(gaps)), gaps)
        self.assertGreater(gaps[-1], gaps[0])
        self.assertTrue(sum(gaps) < 30, gaps)
        self.assertEqual(self.successResultOf(archive.close()), None)

    def test_timeout(self) -> None:
        """
        A connection that never answers times out and is retried; the
        timeout is on the injected clock.
        """
        reactor = MemoryReactorClock()
        archive = archive_on(reactor, attempts=2, timeout=30.0, retry_delay=lambda n: 1.0)
        d = archive.get("k")
        self.assertEqual(len(reactor.tcpClients), 1)
        reactor.advance(30)
        self.assertNoResult(d)
        reactor.advance(1)
        self.assertEqual(len(reactor.tcpClients), 2)
        reactor.advance(30)
        reactor.advance(1)
        failure = self.failureResultOf(d, ArchiveError)
        self.assertIn("failed after 2 attempts: timed out", str(failure.value))

    def test_attempts(self) -> None:
        """
        At least one attempt.
        """
        self.assertRaises(ValueError, archive_on, MemoryReactorClock(), attempts=0)

    def test_bad_key(self) -> None:
        """
        A bad key raises ValueError at once, with no request.
        """
        reactor = MemoryReactorClock()
        archive = archive_on(reactor)
        for call in (
            lambda: archive.put("../x", b""),
            lambda: archive.get("/x"),
            lambda: archive.exists("a//b"),
            lambda: archive.delete(".."),
            lambda: archive.keys("/"),
        ):
            self.assertRaises(ValueError, call)
        self.assertEqual(reactor.tcpClients, [])


class SigningTests(SynchronousTestCase):
    """
    The headers of a signed request.
    """

    def test_signed_put(self) -> None:
        """
        A PUT is signed with SigV4 over its payload: the sha256 of the body
        in x-amz-content-sha256, the Content-MD5 among the signed headers.
        """
        archive = archive_on(MemoryReactorClock(), region="eu-west-3")
        url = archive._url("a b/c")
        self.assertEqual(url, "http://127.0.0.1:9/logs/a%20b/c")
        headers = archive._signed_headers("PUT", url, b"data", {"Content-MD5": "jXd/OF09/siBXSD3SWAm3A=="})
        self.assertEqual(
            headers["X-Amz-Content-SHA256"],
            "3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7",
        )
        authorization = headers["Authorization"]
        self.assertTrue(authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDTEST/"))
        self.assertIn("/eu-west-3/s3/aws4_request", authorization)
        self.assertIn("SignedHeaders=content-md5;host;x-amz-content-sha256;x-amz-date", authorization)

    def test_query(self) -> None:
        """
        Query parameters are sorted and percent-encoded as SigV4 wants.
        """
        archive = archive_on(MemoryReactorClock())
        self.assertEqual(
            archive._url(None, {"prefix": "a b/", "continuation-token": "x+/="}),
            "http://127.0.0.1:9/logs?continuation-token=x%2B%2F%3D&prefix=a%20b%2F",
        )


class ParsingTests(SynchronousTestCase):
    """
    ListObjectsV2 answers and error documents.
    """

    def test_listing(self) -> None:
        """
        The keys of a page and its continuation token.
        """
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="{NS}">'
            "<Name>logs</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount>"
            "<IsTruncated>true</IsTruncated><NextContinuationToken>tok/+=</NextContinuationToken>"
            "<Contents><Key>p/a&amp;b</Key><Size>1</Size></Contents>"
            "<Contents><Key>p/c</Key><Size>1</Size></Contents></ListBucketResult>"
        ).encode()
        self.assertEqual(parse_listing(body), (["p/a&b", "p/c"], "tok/+="))
        last = f'<ListBucketResult xmlns="{NS}"><IsTruncated>false</IsTruncated></ListBucketResult>'
        self.assertEqual(parse_listing(last.encode()), ([], None))

    def test_bad_listings(self) -> None:
        """
        Not XML, another document, a truncated page without a token: clear
        errors.
        """
        for body, reason in [
            (b"<html>", "not XML"),
            (b"<Error><Code>X</Code></Error>", "not ListBucketResult"),
            (b"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", "no continuation token"),
        ]:
            with self.assertRaisesRegex(ArchiveError, reason):
                parse_listing(body)

    def test_error_text(self) -> None:
        """
        An S3 error document gives C{Code: Message}; anything else, its start.
        """
        self.assertEqual(
            error_text(b"<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>"),
            "NoSuchKey: gone",
        )
        self.assertEqual(error_text(b"plain \xff"), "plain \ufffd")

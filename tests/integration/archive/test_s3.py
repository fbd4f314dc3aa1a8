"""The S3 archive against a real S3 HTTP endpoint: moto's server on 127.0.0.1.

The server runs in a thread of the test process (C{ThreadedMotoServer} on a
free loopback port) and serves real HTTP; the archive talks to it with treq
on the real reactor.  Credentials are fake and set in the environment of
each test only.  Moto keeps its state per process, so each test uses its
own bucket.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import pytest_twisted
from moto.server import ThreadedMotoServer
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.web.resource import Resource
from twisted.web.server import Site
from zope.interface.verify import verifyObject

from logship.archive import ArchiveError, IArchive, MissingObject, open_archive
from logship.archive.s3 import S3Archive

FAKE = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
_buckets = itertools.count()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """
    A moto S3 server on a free loopback port, stopped after the module.
    """
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """
    Fake AWS credentials in the environment of this test only (and no
    shared files or instance metadata).
    """
    for name, value in FAKE.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def client(endpoint: str, service: str = "s3", **keys: str) -> Any:
    """
    A boto3 client of the moto server (test set-up only).
    """
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=keys.get("key", "testing"),
        aws_secret_access_key=keys.get("secret", "testing"),
    )


@pytest.fixture
def bucket(endpoint: str) -> str:
    """
    A new, empty bucket.
    """
    name = f"archive-{next(_buckets)}"
    client(endpoint).create_bucket(Bucket=name)
    return name


def archive_of(url: str, **settings: Any) -> S3Archive:
    """
    Open an s3 URL on the real reactor and apply test settings.
    """
    archive = open_archive(url, reactor)
    assert isinstance(archive, S3Archive)
    for name, value in settings.items():
        setattr(archive, f"_{name}", value)
    return archive


@pytest_twisted.ensureDeferred
async def test_round_trip(endpoint: str, bucket: str, fake_credentials: None) -> None:
    """
    put, get, exists, keys, delete on a real S3 endpoint; objects sit
    under the URL's prefix.
    """
    archive = archive_of(f"s3://{bucket}/env1?endpoint={endpoint}")
    assert verifyObject(IArchive, archive)
    key = "buckets/2026/11/26/09/37.lsp"
    data = bytes(range(256)) * 100
    assert await archive.put(key, data) is None
    assert await archive.get(key) == data
    assert await archive.exists(key)
    assert not await archive.exists("buckets/2026/11/26/09/38.lsp")
    await archive.put("manifest/2026-11-26.json", b"{}")
    await archive.put("odd/k+e=y!$'()*,;&@:x%41", b"odd")
    assert await archive.get("odd/k+e=y!$'()*,;&@:x%41") == b"odd"
    await archive.put("empty", b"")
    assert await archive.get("empty") == b""
    assert await archive.keys() == sorted(
        [key, "manifest/2026-11-26.json", "odd/k+e=y!$'()*,;&@:x%41", "empty"]
    )
    assert await archive.keys("buckets/2026/11/26/") == [key]
    assert await archive.keys("manifest/2026-11-2") == ["manifest/2026-11-26.json"]
    stored = client(endpoint).list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(o["Key"] for o in stored)[0] == "env1/buckets/2026/11/26/09/37.lsp"
    other = archive_of(f"s3://{bucket}/env2?endpoint={endpoint}")
    assert await other.keys() == []
    await archive.delete(key)
    assert not await archive.exists(key)
    await archive.delete(key)
    await archive.close()
    await other.close()


@pytest_twisted.ensureDeferred
async def test_missing(endpoint: str, bucket: str, fake_credentials: None) -> None:
    """
    A missing object: get fails with MissingObject, exists is False.
    """
    archive = archive_of(f"s3://{bucket}?endpoint={endpoint}")
    with pytest.raises(MissingObject) as caught:
        await archive.get("no/such/key")
    assert caught.value.key == "no/such/key"
    assert not await archive.exists("no/such/key")
    await archive.close()


@pytest_twisted.ensureDeferred
async def test_missing_bucket(endpoint: str, fake_credentials: None) -> None:
    """
    A bucket that does not exist: a clear error, not retried.
    """
    archive = archive_of(f"s3://no-such-bucket?endpoint={endpoint}")
    with pytest.raises(ArchiveError, match="HTTP 404 NoSuchBucket"):
        await archive.put("k", b"x")
    with pytest.raises(ArchiveError, match="NoSuchBucket"):
        await archive.keys()
    await archive.close()


@pytest_twisted.ensureDeferred
async def test_paging_small_pages(endpoint: str, bucket: str, fake_credentials: None) -> None:
    """
    A listing of many pages (7 keys a page) gives every key once, sorted.
    """
    archive = archive_of(f"s3://{bucket}/p?endpoint={endpoint}", max_keys=7)
    keys = [f"buckets/{i:03d}" for i in range(40)]
    for key in reversed(keys):
        await archive.put(key, key.encode())
    assert await archive.keys() == keys
    assert await archive.keys("buckets/01") == keys[10:20]
    await archive.close()


@pytest_twisted.ensureDeferred
async def test_paging_over_1000(endpoint: str, bucket: str, fake_credentials: None) -> None:
    """
    More than 1000 keys (S3's largest page) list completely with the
    default page size.  The objects are made in moto's store directly (the
    server runs in this process), 50 times faster than 1003 PUTs; the
    listing goes over HTTP.
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    store = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    keys = [f"many/{i:05d}" for i in range(1003)]
    for key in keys:
        store.put_object(bucket, key, b"")
    archive = archive_of(f"s3://{bucket}?endpoint={endpoint}")
    assert await archive.keys("many/") == keys
    await archive.close()


@pytest_twisted.ensureDeferred
async def test_verification_failure(endpoint: str, bucket: str, fake_credentials: None) -> None:
    """
    An object changed between the PUT and its read-back (here by another
    writer, through the same endpoint) fails the put with ArchiveError.
    """
    url = f"s3://{bucket}?endpoint={endpoint}"
    other = archive_of(url)
    archive = archive_of(url, after_write=lambda key: other.put(key, b"someone else's"))
    with pytest.raises(ArchiveError, match="s3 put of 'a/b.lsp' did not verify: read back 14 bytes"):
        await archive.put("a/b.lsp", b"packed bucket")
    assert await archive.get("a/b.lsp") == b"someone else's"
    await archive.close()
    await other.close()


@pytest.fixture
def signature_checks(endpoint: str) -> Iterator[tuple[str, str]]:
    """
    Turn on moto's request authentication (signatures checked with the
    keys of an IAM user allowed s3:*), and off again after the test.
    """
    iam = client(endpoint, "iam")
    user = f"archiver-{next(_buckets)}"
    iam.create_user(UserName=user)
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    import requests

    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
    try:
        yield key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf", timeout=10).raise_for_status()


@pytest_twisted.ensureDeferred
async def test_signatures(
    endpoint: str,
    bucket: str,
    fake_credentials: None,
    signature_checks: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    With moto checking signatures: every request of the archive (PUT with
    Content-MD5, GET, HEAD, listing with continuation tokens, DELETE,
    awkward keys) is accepted; a wrong secret is refused at once (a 403 is
    not retried) with the store's reason.
    """
    access_key, secret = signature_checks
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    archive = archive_of(f"s3://{bucket}/signed?endpoint={endpoint}", max_keys=2)
    for key in ("a/1", "a/2", "odd/k+e=y!$'()*,;&@:x%41", "b c"[:1]):
        await archive.put(key, key.encode())
    assert await archive.get("odd/k+e=y!$'()*,;&@:x%41") == b"odd/k+e=y!$'()*,;&@:x%41"
    assert await archive.exists("a/1")
    assert await archive.keys() == ["a/1", "a/2", "b", "odd/k+e=y!$'()*,;&@:x%41"]
    await archive.delete("a/1")
    assert await archive.keys("a/") == ["a/2"]
    await archive.close()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    wrong = archive_of(f"s3://{bucket}/signed?endpoint={endpoint}", retry_delay=_no_retry)
    with pytest.raises(ArchiveError, match="HTTP 403 SignatureDoesNotMatch"):
        await wrong.get("a/2")
    await wrong.close()


def _no_retry(attempt: int) -> float:
    raise AssertionError(f"retried after a final answer (retry {attempt})")


class _Flaky(Resource):
    """
    Answers 503 to the first C{failures} requests, then the object.
    """

    isLeaf = True

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.requests: list[bytes] = []

    def render(self, request: Any) -> bytes:
        self.requests.append(request.method)
        if len(self.requests) <= self.failures:
            request.setResponseCode(503)
            return b"<Error><Code>SlowDown</Code><Message>Please reduce</Message></Error>"
        return b"object"


async def _flaky_port(failures: int) -> tuple[_Flaky, Any]:
    resource = _Flaky(failures)
    port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(Site(resource))
    return resource, port


@pytest_twisted.ensureDeferred
async def test_retries_5xx(fake_credentials: None) -> None:
    """
    5xx answers are retried (here with no delay); after the last attempt the
    error gives the count and the last reason.
    """
    resource, port = await _flaky_port(2)
    url = f"s3://logs?endpoint=http://127.0.0.1:{port.getHost().port}"
    try:
        archive = archive_of(url, retry_delay=lambda attempt: 0.0)
        assert await archive.get("k") == b"object"
        assert resource.requests == [b"GET"] * 3
        resource.requests.clear()
        resource.failures = 10
        with pytest.raises(ArchiveError, match="failed after 5 attempts: HTTP 503 SlowDown: Please reduce"):
            await archive.get("k")
        assert len(resource.requests) == 5
        await archive.close()
    finally:
        await Deferred.fromCoroutine(_stop(port))


async def _stop(port: Any) -> None:
    await port.stopListening()

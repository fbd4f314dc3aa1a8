"""Tests for L{logship.archive}: keys, URLs, verification (no I/O)."""

from __future__ import annotations

import pytest

from logship.archive import (
    ArchiveError,
    MissingObject,
    check_key,
    open_archive,
    parse_s3_url,
    verify,
)
from logship.archive.dirstore import DirArchive
from logship.archive.s3 import S3Archive

GOOD_KEYS = [
    "buckets/2026/11/26/09/37.lsp",
    "manifest/2026-11-26.json",
    "a",
    "x/y.z/w-v_u~t",
    "odd/k+e=y!$'()*,;&@:x",
    "a" * 900,
]

BAD_KEYS = [
    ("", "printable"),
    ("/abs/key", "leading slash"),
    ("a/../b", "'.'"),
    ("..", "'.'"),
    ("a/./b", "'.'"),
    ("a/.hidden", "'.'"),
    ("a//b", "empty segment"),
    ("a/", "empty segment"),
    ("a b", "printable"),
    ("a\nb", "printable"),
    ("caf\u00e9", "printable"),
    ("a\x7f", "printable"),
    ("a" * 901, "longer than"),
]


@pytest.mark.parametrize("key", GOOD_KEYS)
def test_good_keys(key: str) -> None:
    """
    Relative slash paths of printable ASCII are keys.
    """
    assert check_key(key) == key


@pytest.mark.parametrize("key, reason", BAD_KEYS)
def test_bad_keys(key: str, reason: str) -> None:
    """
    Bad keys are refused with ValueError and the reason.
    """
    with pytest.raises(ValueError, match=reason):
        check_key(key)


def test_prefixes() -> None:
    """
    A listing prefix may be empty, end with a slash, or end mid-segment;
    it is otherwise a key.
    """
    for prefix in ("", "buckets/", "buckets/2026/1", "b"):
        assert check_key(prefix, prefix=True) == prefix
    for prefix in ("/b", "../", "a//", "a b"):
        with pytest.raises(ValueError):
            check_key(prefix, prefix=True)
    with pytest.raises(ValueError, match="str"):
        check_key(b"bytes")  # type: ignore[arg-type]


def test_verify() -> None:
    """
    The read-back check passes identical bytes and fails any other, with
    both digests in the message.
    """
    verify("dir", "k", b"data", b"data")
    verify("s3", "k", "3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7", b"data")
    with pytest.raises(ArchiveError, match=r"s3 put of 'k' did not verify: read back 5 bytes"):
        verify("s3", "k", b"data", b"datb!")
    with pytest.raises(ArchiveError, match="3a6eb079"):
        verify("dir", "k", b"data", b"")


def test_missing_object() -> None:
    """
    MissingObject is a KeyError and an ArchiveError, and says its key.
    """
    error = MissingObject("a/b")
    assert isinstance(error, KeyError) and isinstance(error, ArchiveError)
    assert error.key == "a/b"
    assert str(error) == "no archived object under the key 'a/b'"


def test_open_dir(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """
    dir:PATH opens a DirArchive there.
    """
    archive = open_archive(f"dir:{tmp_path}", reactor=object())
    assert isinstance(archive, DirArchive)
    assert archive.root == tmp_path
    assert open_archive(f"dir://{tmp_path}", reactor=object()).root == tmp_path


def test_open_s3(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """
    s3://BUCKET/PREFIX?endpoint=... opens an S3Archive with the
    environment's credentials and region.
    """
    from twisted.internet.testing import MemoryReactorClock

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    archive = open_archive("s3://logs/env1/?endpoint=http://127.0.0.1:9000", MemoryReactorClock())
    assert isinstance(archive, S3Archive)
    assert (archive.bucket, archive.prefix) == ("logs", "env1/")
    assert archive._region == "eu-west-3"
    assert archive._url("a b/c") == "http://127.0.0.1:9000/logs/env1/a%20b/c"
    archive = open_archive("s3://logs?endpoint=http://127.0.0.1:9000&region=us-west-2", MemoryReactorClock())
    assert (archive.prefix, archive._region) == ("", "us-west-2")
    aws = open_archive("s3://logs", MemoryReactorClock())
    assert aws._url("k", {"list-type": "2"}) == "https://logs.s3.eu-west-3.amazonaws.com/k?list-type=2"


def test_open_s3_without_credentials(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """
    Without credentials, opening an s3 archive says what to set.
    """
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ArchiveError, match="AWS_ACCESS_KEY_ID"):
        open_archive("s3://logs?endpoint=http://127.0.0.1:9000", reactor=object())


@pytest.mark.parametrize(
    "url, reason",
    [
        ("", "empty archive URL"),
        ("dir:", "names no directory"),
        ("file:/tmp/x", "unsupported archive URL"),
        ("/tmp/x", "unsupported archive URL"),
        ("sqlite:/tmp/x", "unsupported archive URL"),
        ("s3://", "not a valid bucket name"),
        ("s3://Bad_Bucket", "not a valid bucket name"),
        ("s3://ab", "not a valid bucket name"),
        ("s3://a..b", "not a valid bucket name"),
        ("s3://logs/../x", "'.'"),
        ("s3://logs?endpoint=ftp://h", "endpoint must be"),
        ("s3://logs?endpoint=http://", "endpoint must be"),
        ("s3://logs?endpoint=http://h/path", "no path"),
        ("s3://logs?endpoint=http://h:99999", "bad endpoint port"),
        ("s3://logs?endpoint=", "not empty"),
        ("s3://logs?endpoint=http://a&endpoint=http://b", "once"),
        ("s3://logs?colour=blue", "unknown option 'colour'"),
        ("s3://logs?region=Not A Region", "bad region"),
        ("s3://logs?junk", "malformed query"),
        ("s3://user:pw@logs", "only s3://BUCKET"),
        ("s3://logs:9000", "only s3://BUCKET"),
    ],
)
def test_bad_urls(url: str, reason: str) -> None:
    """
    Bad archive URLs are refused with ValueError and the reason.
    """
    with pytest.raises(ValueError, match=reason):
        open_archive(url, reactor=object())


def test_parse_s3_url() -> None:
    """
    The bucket, the prefix without end slashes, and the options.
    """
    assert parse_s3_url("s3://logs") == ("logs", "", {})
    assert parse_s3_url("s3://logs/a/b/?region=eu-west-1&endpoint=http://h:1") == (
        "logs",
        "a/b",
        {"region": "eu-west-1", "endpoint": "http://h:1"},
    )

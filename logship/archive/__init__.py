"""The archive: cheap long-term storage of packed buckets (docs/design.md "Backends").

An archive stores opaque objects under keys.  Keys are relative slash paths
such as C{buckets/2026/11/26/09/37.lsp} or C{manifest/2026-11-26.json}
(see L{check_key}).  Two backends implement L{IArchive}:

  - C{dir:PATH} (L{logship.archive.dirstore.DirArchive}), the embedded
    default: one file per object under C{PATH};
  - C{s3://BUCKET[/PREFIX]?endpoint=URL[&region=R]}
    (L{logship.archive.s3.S3Archive}): any S3-compatible store, requests
    signed with botocore and sent with treq.

L{open_archive} makes one from its URL.  Every C{put} reads the object back
and compares its sha256 with what was given before it reports success: a
caller that saw C{put} succeed may delete its other copies (docs/design.md
"Delivery").  See C{docs/archive.md}.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from twisted.internet.defer import Deferred
from zope.interface import Interface

#: Longest key accepted, in bytes (S3 allows 1024 for the whole key, with
#: the archive's prefix).
MAX_KEY = 900

#: A key: printable ASCII but space, segments joined by single slashes.
_KEY_CHARS = re.compile(r"[\x21-\x7e]+")

#: S3 bucket names (the DNS-compatible rule).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class ArchiveError(Exception):
    """
    An archive operation failed: the store refused it, could not be reached
    (after retries), or an object read back did not verify.  The message
    says which.
    """


class MissingObject(ArchiveError, KeyError):
    """
    No object under this key (a L{KeyError}, and an L{ArchiveError}).

    @ivar key: the key.
    """

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"no archived object under the key {self.key!r}"


class IArchive(Interface):
    """
    A store of objects (bytes) under keys (see L{check_key}).  Every method
    returns a L{Deferred}; a bad key raises L{ValueError} at once.
    """

    def put(key: str, data: bytes) -> Deferred[None]:
        """
        Store C{data} under C{key} (replacing any object there), read it back
        and compare its sha256.

        @return: fires with C{None} once the object is stored and verified;
            fails with L{ArchiveError} (the reason in its message) if it
            could not be stored or did not verify.
        """

    def get(key: str) -> Deferred[bytes]:
        """
        The object under C{key}.

        @return: fires with its bytes, or fails with L{MissingObject}.
        """

    def exists(key: str) -> Deferred[bool]:
        """
        @return: fires with whether an object is stored under C{key}.
        """

    def keys(prefix: str = "") -> Deferred[list[str]]:
        """
        The keys that begin with C{prefix} (a plain string prefix, not only
        whole segments), sorted, all of them (every page of a listing).

        @return: fires with the sorted keys.
        """

    def delete(key: str) -> Deferred[None]:
        """
        Remove the object under C{key}; a missing one is not an error (so a
        repeated delete is harmless).

        @return: fires with C{None} once it is gone.
        """

    def close() -> Deferred[None]:
        """
        Release what the archive holds (open connections).

        @return: fires when done; the archive is not used after.
        """


def check_key(key: str, *, prefix: bool = False) -> str:
    """
    Check an archive key: 1 to L{MAX_KEY} characters of printable ASCII
    (no space), slash-separated segments, none empty and none beginning
    with C{.} (so no C{.}, no C{..}, and no clash with the dir backend's
    temporary files), no leading or trailing slash.

    @param key: the key.
    @param prefix: check a listing prefix instead: it may be empty, and
        its last segment may be empty (end with C{/}) or partial.
    @return: C{key}.
    @raise ValueError: it is not one, with the reason.
    """
    if not isinstance(key, str):
        raise ValueError(f"an archive key is a str, not {type(key).__name__}")
    if prefix and key == "":
        return key
    if len(key) > MAX_KEY:
        raise ValueError(f"archive key longer than {MAX_KEY} characters: {key[:40]!r}...")
    if not _KEY_CHARS.fullmatch(key):
        raise ValueError(f"archive key must be printable ASCII without spaces: {key!r}")
    if key.startswith("/"):
        raise ValueError(f"archive key must be relative (no leading slash): {key!r}")
    segments = key.split("/")
    if prefix and segments[-1] == "":
        segments.pop()
    for segment in segments:
        if segment == "":
            raise ValueError(f"archive key has an empty segment: {key!r}")
        if segment.startswith("."):
            raise ValueError(f"archive key segment begins with '.': {key!r}")
    return key


def sha256_hex(data: bytes) -> str:
    """
    The sha256 of C{data}, in hex.
    """
    return hashlib.sha256(data).hexdigest()


def verify(where: str, key: str, expected: bytes | str, got: bytes) -> None:
    """
    Check that an object read back is what was written.

    @param where: the backend, for the message (C{"dir"}, C{"s3"}).
    @param key: the key, for the message.
    @param expected: the bytes written, or their sha256 in hex.
    @param got: the bytes read back.
    @raise ArchiveError: they differ; the message gives both digests.
    """
    want = expected if isinstance(expected, str) else sha256_hex(expected)
    have = sha256_hex(got)
    if have != want:
        raise ArchiveError(
            f"{where} put of {key!r} did not verify: read back {len(got)} bytes "
            f"with sha256 {have}, expected {want}"
        )


def open_archive(url: str, reactor: Any = None) -> IArchive:
    """
    Make the archive that a URL names.

      - C{dir:PATH}: files under C{PATH} (created if needed);
      - C{s3://BUCKET[/PREFIX][?endpoint=http://HOST:PORT][&region=R]}:
        an S3-compatible store, path-style requests to C{endpoint}
        (default: AWS, C{https://BUCKET.s3.REGION.amazonaws.com}), objects
        under C{PREFIX/}; credentials from botocore's chain (the
        C{AWS_ACCESS_KEY_ID}, C{AWS_SECRET_ACCESS_KEY},
        C{AWS_SESSION_TOKEN} variables first); the region from C{region=},
        else C{AWS_DEFAULT_REGION}, else C{us-east-1}.

    @param url: the archive URL.
    @param reactor: the reactor for I/O and timers (default: the global one).
    @return: the archive.
    @raise ValueError: a bad or unsupported URL, with the reason.
    @raise ArchiveError: no AWS credentials were found for C{s3://}.
    """
    if not isinstance(url, str) or not url:
        raise ValueError("empty archive URL: use dir:PATH or s3://BUCKET?endpoint=URL")
    if url.startswith("dir:"):
        path = url[len("dir:") :]
        if path.startswith("//"):
            path = urlsplit(url).path
        if not path:
            raise ValueError(f"archive URL {url!r} names no directory: use dir:PATH")
        from logship.archive.dirstore import DirArchive

        return DirArchive(path, reactor=reactor)
    if url.startswith("s3://"):
        from logship.archive.s3 import S3Archive

        bucket, prefix, options = parse_s3_url(url)
        return S3Archive.from_environment(bucket, prefix, reactor=reactor, **options)
    raise ValueError(
        f"unsupported archive URL {url!r}: use dir:PATH or s3://BUCKET[/PREFIX]?endpoint=URL"
    )


def parse_s3_url(url: str) -> tuple[str, str, dict[str, str]]:
    """
    Split an C{s3://} archive URL.

    @return: C{(bucket, prefix, options)}: the prefix without slashes at
        its ends (possibly empty); options holds C{endpoint} and C{region}
        when given.
    @raise ValueError: not a valid one, with the reason.
    """
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise ValueError(f"not an s3:// URL: {url!r}")
    if parts.fragment or parts.username or parts.password or parts.port:
        raise ValueError(f"s3 archive URL {url!r}: only s3://BUCKET[/PREFIX]?options")
    bucket = parts.netloc
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValueError(f"s3 archive URL {url!r}: {bucket!r} is not a valid bucket name")
    prefix = parts.path.strip("/")
    if prefix:
        check_key(prefix)
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise ValueError(f"s3 archive URL {url!r}: malformed query {parts.query!r}") from None
    options = {}
    for name, values in query.items():
        if name not in ("endpoint", "region"):
            raise ValueError(f"s3 archive URL {url!r}: unknown option {name!r}")
        if len(values) != 1 or not values[0]:
            raise ValueError(f"s3 archive URL {url!r}: give {name} once, not empty")
        options[name] = values[0]
    if "endpoint" in options:
        endpoint = urlsplit(options["endpoint"])
        if endpoint.scheme not in ("http", "https") or not endpoint.hostname:
            raise ValueError(
                f"s3 archive URL {url!r}: endpoint must be http://HOST[:PORT] or https://..."
            )
        if endpoint.path.strip("/") or endpoint.query or endpoint.fragment:
            raise ValueError(f"s3 archive URL {url!r}: endpoint must have no path or query")
        try:
            endpoint.port
        except ValueError:
            raise ValueError(f"s3 archive URL {url!r}: bad endpoint port") from None
    if "region" in options and not re.fullmatch(r"[a-z0-9-]{1,32}", options["region"]):
        raise ValueError(f"s3 archive URL {url!r}: bad region {options['region']!r}")
    return bucket, prefix, options

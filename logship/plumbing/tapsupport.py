"""Checks that every logship tap makes of its options before twistd starts.

The taps of the cluster's members (tailer, buck, porter) derive their
C{Options} from L{ClusterOptions}, which declares and checks the options
they share: C{--key FILE} or C{--insecure}, C{--node NAME} and
C{--bucket-seconds N} (and, from L{ConfigOptions}, C{--config FILE}).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, ClassVar

from twisted.python import usage

from logship.core.bucket import check_bucket_seconds
from logship.core.keys import KeyFileError, read_key
from logship.plumbing.config import ConfigOptions
from logship.wire.messages import MAX_NODE


class ClusterOptions(ConfigOptions):
    """
    The options every member of the cluster takes.  A tap's C{Options}
    adds its own to these; its C{postOptions} calls C{super().postOptions()}
    (the config file) first, then L{check_cluster_options} where that
    tap's checks want it (after those of what it must do, so that a bare
    command line names what is missing first).

    @ivar key: the cluster key, or C{None} with C{--insecure} (set by
        L{check_cluster_options}).
    """

    #: The member's role: named in C{--node}'s help, and its node name
    #: when the host has none.
    role: ClassVar[str]
    #: The help of C{--bucket-seconds}.
    bucket_seconds_help: ClassVar[str] = "The bucket interval in seconds (divides 3600)."

    # The help of --node and --bucket-seconds is the tap's (see __init__).
    optParameters: ClassVar[list[list[Any]]] = [
        ["key", "k", None, "The cluster key file (made by `logship keygen FILE`)."],
        ["node", None, None, None],
        ["bucket-seconds", None, 60, None, int],
    ]
    optFlags: ClassVar[list[list[Any]]] = [
        ["insecure", None, "Lab only: no key, frames are NOT sealed (plaintext)."],
    ]
    config_paths: ClassVar[frozenset[str]] = frozenset({"key"})

    def __init__(self) -> None:
        super().__init__()
        self.docs["node"] = f"This {self.role}'s node name (default: the host name)."
        self.docs["bucket-seconds"] = self.bucket_seconds_help
        self.key: bytes | None = None

    def check_cluster_options(self) -> None:
        """
        Check the shared options: the bucket interval, the node name (this
        host's by default), the key.

        @raise usage.UsageError: if one is wrong.
        """
        try:
            check_bucket_seconds(self["bucket-seconds"])
        except ValueError as e:
            raise usage.UsageError(f"--bucket-seconds: {e}") from None
        self["node"] = node_name(self["node"], self.role)
        self.key = cluster_key(self["key"], self["insecure"])


def positive_int(text: str) -> int:
    """
    An option value that must be a whole number of at least 1.
    """
    value = int(text)
    if value < 1:
        raise ValueError(f"must be at least 1, not {value}")
    return value


def positive_float(text: str) -> float:
    """
    An option value that must be a number above 0.
    """
    value = float(text)
    if not value > 0:
        raise ValueError(f"must be more than 0, not {text}")
    return value


def node_name(given: str | None, default: str) -> str:
    """
    A C{--node} value: the one given, else this host's short name, else
    C{default}.

    @raise usage.UsageError: if it is empty, too long or not printable.
    """
    node = given if given is not None else (socket.gethostname().split(".")[0] or default)
    if not 1 <= len(node) <= MAX_NODE or not node.isprintable():
        raise usage.UsageError(f"--node: 1 to {MAX_NODE} printable characters, not {node!r}")
    return node


def cluster_key(key_file: str | None, insecure: bool) -> bytes | None:
    """
    The cluster key from C{--key FILE}, or C{None} with C{--insecure}.

    @raise usage.UsageError: if neither or both are given, or the key file
        is missing, readable by others, or not a key.
    """
    if insecure:
        if key_file is not None:
            raise usage.UsageError("--insecure and --key exclude each other")
        return None
    if key_file is None:
        raise usage.UsageError(
            "no --key FILE given (make one with `logship keygen FILE`;"
            " --insecure runs without one, for a lab only)"
        )
    try:
        return read_key(Path(key_file))
    except KeyFileError as e:
        raise usage.UsageError(f"--key: {e}") from None


def buck_endpoint(text: str) -> str:
    """
    A C{--buck} value as a client endpoint description: C{HOST:PORT}, or
    an endpoint string (C{tcp:host=...:port=...}, C{unix:path=...}).
    """
    if text.startswith(("tcp:", "unix:", "tls:")):
        return text
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise usage.UsageError(f"--buck {text}: expected HOST:PORT")
    return f"tcp:host={host.strip('[]')}:port={port}"

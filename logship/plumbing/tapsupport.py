"""Checks that every logship tap makes of its options before twistd starts."""

from __future__ import annotations

import socket
from pathlib import Path

from twisted.python import usage

from logship.core.keys import KeyFileError, read_key
from logship.wire.messages import MAX_NODE


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

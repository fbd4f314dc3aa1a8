"""What a live client asks to see: its messages read into a L{LiveFilter}; pure (no Twisted).

A client sends only C{filter} messages (C{docs/live.md}, step 3).
L{read_message} turns one WebSocket message into a L{LiveFilter}, or says
why it cannot: L{BadMessage} (the client is answered with an error, the
connection and its previous filter stay) or L{Unreadable} (the connection
is closed with a code and a reason).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from logship.buck.live.messages import CLOSE_BINARY, CLOSE_NOT_JSON
from logship.core.event import Event

#: Events per second a client gets unless its filter says otherwise.
DEFAULT_RATE = 500
#: The highest rate a filter may ask for.
MAX_RATE = 5000
#: Host and app names a filter may list, at most (each).
MAX_NAMES = 1000
#: Bytes of a filter's substring, at most.
MAX_SUBSTRING = 1024

_FILTER_KEYS = frozenset({"type", "hosts", "apps", "substring", "rate"})


class BadMessage(ValueError):
    """
    A client message answered with an error; the message says why.
    """


class BadFilter(BadMessage):
    """
    A filter message that cannot be used; the message says why.
    """


class Unreadable(Exception):
    """
    A client message that closes the connection.

    @ivar code: the WebSocket close code.
    @ivar reason: the close reason.
    """

    def __init__(self, code: int, reason: str) -> None:
        """
        @param code: the WebSocket close code.
        @param reason: the close reason.
        """
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class LiveFilter:
    """
    What one client wants to see.

    @ivar hosts: host names (C{shn}) to show; empty for any.
    @ivar apps: app names to show; empty for any.
    @ivar substring: bytes the message must contain (case-sensitive), or
        C{None}.
    @ivar rate: events per second, at most.
    """

    hosts: frozenset[bytes] = frozenset()
    apps: frozenset[bytes] = frozenset()
    substring: bytes | None = None
    rate: int = DEFAULT_RATE

    def accept_function(self) -> Callable[[Event], bool] | None:
        """
        The cheap test the channel runs on each published event for this
        filter (set membership and one C{bytes.__contains__}), or C{None}
        when every event matches.
        """
        hosts, apps, needle = self.hosts, self.apps, self.substring
        if not hosts and not apps and needle is None:
            return None
        if not apps and needle is None:
            return lambda e: e.shn in hosts
        if not hosts and needle is None:
            return lambda e: e.app in apps
        if not hosts and not apps and needle is not None:
            return lambda e: needle in e.message

        def accept(e: Event) -> bool:
            return (
                (not hosts or e.shn in hosts)
                and (not apps or e.app in apps)
                and (needle is None or needle in e.message)
            )

        return accept


def read_message(payload: bytes, is_binary: bool) -> LiveFilter:
    """
    Read one message of a client (C{docs/live.md}, steps 3 and 5).

    @param payload: the message's bytes.
    @param is_binary: whether it came as a binary message.
    @return: the filter it asks for.
    @raise Unreadable: if it is binary, not JSON, or nested too deeply to
        read (close the connection).
    @raise BadMessage: if it is JSON but not a usable filter (answer with
        an error).
    """
    if is_binary:
        raise Unreadable(CLOSE_BINARY, "binary messages are not accepted")
    try:
        message = json.loads(payload)
    except ValueError as e:
        raise Unreadable(CLOSE_NOT_JSON, f"not a JSON message: {e}"[:120]) from None
    except RecursionError:
        raise Unreadable(CLOSE_NOT_JSON, "a JSON message nested too deeply") from None
    if not isinstance(message, dict):
        raise BadMessage(f"expected a JSON object, not {type(message).__name__}")
    kind = message.get("type")
    if kind != "filter":
        raise BadMessage(f"unknown message type {_shown(kind)} (expected filter)")
    return parse_filter(message)


def _shown(value: object) -> str:
    """
    A JSON value in a message: a scalar as JSON (cut to 40 characters), a
    list or an object only by its type (it may be nested deeply).
    """
    if value is None or isinstance(value, (str, int, float, bool)):
        return json.dumps(value)[:40]
    return type(value).__name__


def _utf8(value: str, key: str) -> bytes:
    """
    A string of a filter as bytes (C{surrogateescape}: as the buck reads
    names).

    @raise BadFilter: it holds a lone surrogate (C{"\\ud800"}).
    """
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise BadFilter(f"{key}: not valid Unicode (a lone surrogate)") from None


def parse_filter(message: dict[str, Any]) -> LiveFilter:
    """
    Read a client's filter message.

    @param message: the decoded JSON object (its C{type} is C{"filter"}).
    @return: the filter.
    @raise BadFilter: if a key is unknown or a value is not allowed.
    """
    unknown = sorted(set(message) - _FILTER_KEYS)
    if unknown:
        raise BadFilter(
            f"unknown key {unknown[0]!r} (a filter has hosts, apps, substring, rate)"
        )
    substring = message.get("substring")
    needle: bytes | None = None
    if substring is not None:
        if not isinstance(substring, str):
            raise BadFilter(
                f"substring: expected a string or null, not {type(substring).__name__}"
            )
        needle = _utf8(substring, "substring") or None
        if needle is not None and len(needle) > MAX_SUBSTRING:
            raise BadFilter(f"substring: at most {MAX_SUBSTRING} bytes, not {len(needle)}")
    rate = message.get("rate", DEFAULT_RATE)
    if rate is None:
        rate = DEFAULT_RATE
    if not isinstance(rate, int) or isinstance(rate, bool):
        raise BadFilter(f"rate: expected a whole number, not {_shown(rate)}")
    if not 1 <= rate <= MAX_RATE:
        raise BadFilter(f"rate: 1 to {MAX_RATE} events per second, not {rate}")
    return LiveFilter(_names(message, "hosts"), _names(message, "apps"), needle, rate)


def _names(message: dict[str, Any], key: str) -> frozenset[bytes]:
    value = message.get(key)
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise BadFilter(f"{key}: expected a list of strings, not {type(value).__name__}")
    if len(value) > MAX_NAMES:
        raise BadFilter(f"{key}: at most {MAX_NAMES} names, not {len(value)}")
    names = set()
    for name in value:
        if not isinstance(name, str):
            raise BadFilter(f"{key}: expected strings, not {_shown(name)}")
        data = _utf8(name, key)
        if not 1 <= len(data) <= 255:
            raise BadFilter(f"{key}: a name has 1 to 255 bytes, not {len(data)}")
        names.add(data)
    return frozenset(names)

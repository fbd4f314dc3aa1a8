"""What the buck sends a live client: its JSON messages, the per-event encoding cache, the close codes; pure (no Twisted).

The messages (C{docs/live.md} is the reference): C{hello} on open,
C{events} batches, C{skipped} notices and C{error} answers.  An event is
encoded once for all the clients that receive it (L{EventEncoder}), and a
batch is built from the encoded events without decoding them again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import islice

from logship.core.event import Event
from logship.core.render import live_json

#: Entries of the shared per-event JSON cache.
ENCODE_CACHE = 20_000

#: Close codes (WebSocket private range 4000-4999: the standard code + 3000).
CLOSE_BINARY = 4003
CLOSE_NOT_JSON = 4007
CLOSE_STALLED = 4008
#: The same code (a policy violation): no filter within the timeout.
CLOSE_NO_FILTER = 4008
CLOSE_TOO_BIG = 4009
CLOSE_INTERNAL = 4011
CLOSE_OVERLOADED = 4013


class EventEncoder:
    """
    The JSON bytes of events, encoded once for all the clients that receive
    the same L{Event} object (a bounded cache keyed by the object).

    @ivar encoded: events encoded (cache misses).
    """

    def __init__(self, size: int = ENCODE_CACHE) -> None:
        """
        @param size: events remembered at most (the oldest go first).
        """
        self._size = size
        self._cache: dict[int, tuple[Event, bytes]] = {}
        self.encoded = 0

    def encode(self, event: Event) -> bytes:
        """
        The JSON object of L{live_json}, as compact UTF-8 bytes.
        """
        cache = self._cache
        hit = cache.get(id(event))
        if hit is not None and hit[0] is event:
            return hit[1]
        data = json.dumps(live_json(event), ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8"
        )
        self.encoded += 1
        if len(cache) >= self._size:
            for key in list(islice(cache, len(cache) - self._size + 1 + self._size // 10)):
                del cache[key]
        # The entry keeps the event alive, so its id is not reused meanwhile.
        cache[id(event)] = (event, data)
        return data


def hello_message(node: str) -> bytes:
    """
    The C{hello} a client gets on open, with the buck's node name.
    """
    return json.dumps({"type": "hello", "node": node}).encode("utf-8")


def events_message(encoded: Sequence[bytes]) -> bytes:
    """
    The C{events} message holding already encoded events.
    """
    return b'{"type":"events","events":[' + b",".join(encoded) + b"]}"


def skipped_message(count: int) -> bytes:
    """
    The C{skipped} notice.
    """
    return b'{"type":"skipped","count":%d}' % count


def error_message(why: str) -> bytes:
    """
    The C{error} answer to a bad client message.
    """
    return json.dumps({"type": "error", "error": why}).encode("utf-8")

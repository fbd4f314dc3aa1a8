"""The C{--live} endpoint string: the bare-port shorthand.

The tap reads C{--live} with L{normalize_live} and requires C{--live-token}
when L{logship.plumbing.listeners.is_loopback} says the endpoint is
reachable from elsewhere.
"""

from __future__ import annotations

from logship.plumbing.listeners import loopback_shorthand


def normalize_live(description: str) -> str:
    """
    A C{--live} value as an endpoint string: a bare port number means
    C{tcp:PORT:interface=127.0.0.1}.
    """
    return loopback_shorthand(description)

"""The C{--live} endpoint string: the bare-port shorthand and whether it listens on loopback only.

The tap reads C{--live} with L{normalize_live} and requires C{--live-token}
when L{is_loopback} says the endpoint is reachable from elsewhere.
"""

from __future__ import annotations

import ipaddress

from twisted.internet import endpoints


def normalize_live(description: str) -> str:
    """
    A C{--live} value as an endpoint string: a bare port number means
    C{tcp:PORT:interface=127.0.0.1}.
    """
    if description.isdigit():
        return f"tcp:{description}:interface=127.0.0.1"
    return description


def is_loopback(description: str) -> bool:
    """
    Whether an endpoint string listens only where this machine alone can
    connect: a TCP endpoint bound to a loopback address, or a UNIX socket.
    Any other (no C{interface}: every interface) is not.
    """
    endpoint = endpoints.serverFromString(object(), description)
    if isinstance(endpoint, endpoints.UNIXServerEndpoint):
        return True
    interface = getattr(endpoint, "_interface", None)
    if not interface:
        return False
    if interface == "localhost":
        return True
    try:
        return ipaddress.ip_address(interface).is_loopback
    except ValueError:
        return False

"""Listening endpoints for the taps: checked early, announced, failing in one line.

Every service that listens (the buck's wire and live tail, the porter's
API, archie's web site) takes Twisted endpoint strings
(C{tcp:4401:interface=127.0.0.1}, C{tcp:0} for any free port).
L{check_listen} checks a string while the options are parsed
(L{loopback_shorthand} reads a bare port as loopback's);
L{is_loopback} tells whether it only accepts connections from this
machine (the web surfaces want a token otherwise); L{Listener} logs C{"PROGRAM listening on HOST:PORT
(DESCRIPTION)"} once bound (with the real port, which tests read from the
log), and stops twistd with one line when the port cannot be bound.
"""

from __future__ import annotations

import ipaddress

from twisted.application.internet import StreamServerEndpointService
from twisted.internet import endpoints
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IStreamServerEndpoint
from twisted.logger import Logger
from twisted.python import usage
from zope.interface import implementer

_log = Logger(namespace="logship.plumbing.listeners")

_NOT_A_REACTOR = object()


def check_listen(option: str, description: str) -> None:
    """
    Check an endpoint string before twistd starts.

    @param option: the option's name, for the message (C{"--listen"}).
    @raise usage.UsageError: if it does not parse.
    """
    try:
        # Endpoints only keep the reactor: an inert stand-in lets the
        # description be checked here.
        endpoints.serverFromString(_NOT_A_REACTOR, description)
    except (ValueError, TypeError, KeyError) as e:
        raise usage.UsageError(f"{option} {description}: {e}") from None


def loopback_shorthand(description: str) -> str:
    """
    An endpoint option's value as an endpoint string: a bare port number
    means C{tcp:PORT:interface=127.0.0.1}; anything else is as given.
    """
    if description.isdigit():
        return f"tcp:{description}:interface=127.0.0.1"
    return description


def _endpoint_fields(description: str) -> tuple[str, list[str], dict[str, str]]:
    """
    Split a server endpoint string into its kind, positional arguments and
    keyword arguments (C{\\:} is a colon inside a value).
    """
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for c in description:
        if escaped:
            current.append(c)
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == ":":
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
    parts.append("".join(current))
    kind, rest = parts[0], parts[1:]
    args = [p for p in rest if "=" not in p]
    kwargs = dict(p.split("=", 1) for p in rest if "=" in p)
    return kind, args, kwargs


def is_loopback(description: str) -> bool:
    """
    Whether a server endpoint string only accepts connections from this
    machine: TCP on a loopback interface (127.0.0.0/8, C{::1},
    C{localhost}), or a UNIX socket.  Anything else (no interface: all of
    them; TLS; systemd) is not.
    """
    kind, args, kwargs = _endpoint_fields(description)
    if kind == "unix":
        return True
    if kind not in ("tcp", "tcp6"):
        return False
    interface = kwargs.get("interface")
    if interface is None and len(args) > 2:
        interface = args[2]
    if interface is None:
        return False
    if interface == "localhost":
        return True
    try:
        return ipaddress.ip_address(interface.strip("[]")).is_loopback
    except ValueError:
        return False


@implementer(IStreamServerEndpoint)
class _Announced:
    """
    An endpoint that logs the address it listens on (the actual port, for
    C{tcp:0}) once listening.
    """

    def __init__(self, program: str, endpoint: IStreamServerEndpoint, description: str) -> None:
        self._program = program
        self._endpoint = endpoint
        self._description = description

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        def listening(listening_port: IListeningPort) -> IListeningPort:
            address = listening_port.getHost()
            host = getattr(address, "host", None)
            port = getattr(address, "port", None)
            _log.info(
                "{program} listening on {where} ({description})",
                program=self._program,
                where=f"{host}:{port}" if host is not None else str(address),
                port=port,
                description=self._description,
            )
            return listening_port

        return self._endpoint.listen(factory).addCallback(listening)


class Listener(StreamServerEndpointService):
    """
    A listener that announces its address, and fails twistd's startup in
    one line when its endpoint cannot be bound (a port in use, a bad
    interface), instead of a traceback.
    """

    _raiseSynchronously = True  # as twisted.application.strports.service

    def __init__(
        self,
        program: str,
        description: str,
        endpoint: IStreamServerEndpoint,
        factory: IProtocolFactory,
    ) -> None:
        """
        @param program: the service's name in the log lines.
        @param description: the endpoint string, for the log lines.
        """
        super().__init__(_Announced(program, endpoint, description), factory)
        self.program = program
        self.description = description

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except CannotListenError as e:
            _log.critical(
                "{program} cannot listen on {description}: {error}",
                program=self.program,
                description=self.description,
                error=str(e.socketError),
            )
            raise SystemExit(
                f"{self.program}: cannot listen on {self.description}: {e.socketError}"
            ) from None

"""Checks that every logship tap makes of its options before twistd starts.

Each tap also says, in one log line when it builds its service, which
implementation of the codec's hot path runs (L{log_codec}).

The taps of the cluster's members (tailer, buck, porter) derive their
C{Options} from L{ClusterOptions}, which declares and checks the options
they share: how the node secures the wire, C{--node NAME} and
C{--bucket-seconds N} (and, from L{MetricsOptions}, the metrics options;
from L{ConfigOptions}, C{--config FILE}).  Archie's C{Options} derive from
L{MetricsOptions}: every service serves and pushes its metrics the same way
(C{--metrics}, C{--graphite}, C{--graphite-interval}, C{--graphite-prefix};
C{docs/metrics.md}).

A node secures the wire in one of three ways (C{docs/security.md}):

  - per-node credentials: C{--credential FILE --node-key FILE --authority
    FILE [--revoked FILE]} (the node's credential and secret key, the
    authorities it trusts, a revocation list reloaded when it changes);
  - lab mode with the shared cluster key: C{--key FILE} (roles and node
    names are claims);
  - lab mode without any key: C{--insecure} (nothing sealed).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any, ClassVar

from prometheus_client import CollectorRegistry
from twisted.application.service import IService
from twisted.internet import endpoints
from twisted.logger import Logger
from twisted.python import usage

from logship.core.bucket import check_bucket_seconds
from logship.core.credentials import (
    CredentialError,
    Credentials,
    NodeIdentity,
    Trust,
    read_credential_file,
    verify_credential,
)
from logship.core.keys import KeyFileError, KeyKind, read_key, read_public_keys, read_signing_key
from logship.core import speedups
from logship.core.revocation import DEFAULT_INTERVAL, RevocationFile, RevocationFileError
from logship.plumbing.config import ConfigOptions
from logship.plumbing.graphite import DEFAULT_INTERVAL as DEFAULT_GRAPHITE_INTERVAL
from logship.plumbing.graphite import GraphitePusher, path_part
from logship.plumbing.listeners import Listener, check_listen, loopback_shorthand
from logship.plumbing.metrics import metrics_site
from logship.wire.messages import MAX_NODE


_log = Logger()


def log_codec(service: str) -> None:
    """
    Say which implementation of the codec's hot path runs, compiled or
    pure Python, and why (L{logship.core.speedups}): one line at startup.

    @param service: e.g. C{"logship-tailer"}.
    """
    _log.info(
        "{service}: codec {codec}",
        service=service,
        codec=speedups.describe(),
        implementation=speedups.active,
    )


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


class MetricsOptions(ConfigOptions):
    """
    The metrics options every service takes: C{--metrics ENDPOINT} (the
    Prometheus page) and C{--graphite HOST:PORT} with its interval and
    prefix.  Checked in C{postOptions}, right after the config file is
    applied; L{metrics_services} builds what they ask for.

    @ivar graphite_endpoint: C{--graphite} as a client endpoint string.
    """

    graphite_endpoint: str | None = None

    optParameters: ClassVar[list[list[Any]]] = [
        ["metrics", None, None,
         "Serve the metrics in Prometheus text format (path /metrics) on this"
         " endpoint, e.g. tcp:9401:interface=127.0.0.1 (a bare port means that);"
         " default: none."],
        ["graphite", None, None,
         "Push the metrics to graphite's plaintext protocol at HOST:PORT; default: none."],
        ["graphite-interval", None, DEFAULT_GRAPHITE_INTERVAL,
         "Seconds between two pushes to graphite.", positive_float],
        ["graphite-prefix", None, None,
         "The prefix of the graphite paths (default: logship.NODE)."],
    ]

    def postOptions(self) -> None:
        super().postOptions()
        if self["metrics"] is not None:
            self["metrics"] = loopback_shorthand(self["metrics"])
            check_listen("--metrics", self["metrics"])
        if self["graphite"] is not None:
            self.graphite_endpoint = host_port_endpoint("--graphite", self["graphite"])
        elif self["graphite-prefix"] is not None:
            raise usage.UsageError("--graphite-prefix without --graphite")

    def metrics_services(
        self, registry: CollectorRegistry, reactor: Any, program: str, node: str
    ) -> list[IService]:
        """
        The services of the metrics options: the C{--metrics} listener
        (announced as "PROGRAM metrics listening on ...") and the graphite
        pusher, each if asked for.

        @param registry: the service's metrics.
        @param reactor: the reactor (endpoints, clock).
        @param program: the service's name in the log lines.
        @param node: the node name (in the default graphite prefix).
        """
        services: list[IService] = []
        if self["metrics"] is not None:
            endpoint = endpoints.serverFromString(reactor, self["metrics"])
            services.append(
                Listener(f"{program} metrics", self["metrics"], endpoint, metrics_site(registry))
            )
        if self.graphite_endpoint is not None:
            prefix = self["graphite-prefix"] or f"logship.{path_part(node)}"
            services.append(
                GraphitePusher(
                    registry,
                    endpoints.clientFromString(reactor, self.graphite_endpoint),
                    reactor,
                    prefix=prefix,
                    interval=self["graphite-interval"],
                    where=self["graphite"],
                )
            )
        return services


class ClusterOptions(MetricsOptions):
    """
    The options every member of the cluster takes.  A tap's C{Options}
    adds its own to these; its C{postOptions} calls C{super().postOptions()}
    (the config file) first, then L{check_cluster_options} where that
    tap's checks want it (after those of what it must do, so that a bare
    command line names what is missing first).

    @ivar key: the cluster key, or C{None} with C{--insecure} or
        credentials (set by L{check_cluster_options}).
    @ivar credentials: the node's identity and trust with C{--credential},
        else C{None}.
    @ivar revocations: the revocation list file with C{--revoked}, else
        C{None}.
    """

    #: The member's role: named in C{--node}'s help, and its node name
    #: when the host has none.
    role: ClassVar[str]
    #: The help of C{--bucket-seconds}.
    bucket_seconds_help: ClassVar[str] = "The bucket interval in seconds (divides 3600)."

    # The help of --node and --bucket-seconds is the tap's (see __init__).
    optParameters: ClassVar[list[list[Any]]] = [
        ["key", "k", None, "The cluster key file (made by `logship keygen FILE`)."],
        ["credential", None, None,
         "This node's credential (made by `logship credential`): per-node"
         " credentials instead of the cluster key; needs --node-key and --authority."],
        ["node-key", None, None,
         "This node's secret key (made on it by `logship keygen --node FILE`)."],
        ["authority", None, None,
         "The trusted authorities' public keys (FILE.pub of"
         " `logship keygen --authority FILE`; one a line)."],
        ["revoked", None, None,
         "A revocation list (`logship revoke`), read again when it changes."],
        ["revocation-interval", None, DEFAULT_INTERVAL,
         "Seconds between two looks at --revoked and the peers' credentials.",
         positive_float],
        ["node", None, None, None],
        ["bucket-seconds", None, 60, None, int],
    ]
    optFlags: ClassVar[list[list[Any]]] = [
        ["insecure", None, "Lab only: no key, frames are NOT sealed (plaintext)."],
    ]
    config_paths: ClassVar[frozenset[str]] = frozenset(
        {"key", "credential", "node-key", "authority", "revoked"}
    )

    def __init__(self) -> None:
        super().__init__()
        self.docs["node"] = f"This {self.role}'s node name (default: the host name)."
        self.docs["bucket-seconds"] = self.bucket_seconds_help
        self.key: bytes | None = None
        self.credentials: Credentials | None = None
        self.revocations: RevocationFile | None = None

    def check_cluster_options(self) -> None:
        """
        Check the shared options: the bucket interval, the credentials or
        the key, the node name (the credential's, else this host's by
        default).

        @raise usage.UsageError: if one is wrong.
        """
        try:
            check_bucket_seconds(self["bucket-seconds"])
        except ValueError as e:
            raise usage.UsageError(f"--bucket-seconds: {e}") from None
        given = [n for n in ("credential", "node-key", "authority") if self[n] is not None]
        if given:
            if self["key"] is not None or self["insecure"]:
                raise usage.UsageError("--credential excludes --key and --insecure")
            missing = {"credential", "node-key", "authority"} - set(given)
            if missing:
                raise usage.UsageError(
                    f"--{given[0]} needs --{' and --'.join(sorted(missing))}"
                )
            self.credentials = node_credentials(
                self["credential"], self["node-key"], self["authority"], self.role
            )
            own = self.credentials.identity.credential.node
            if self["node"] not in (None, own):
                raise usage.UsageError(
                    f"--node {self['node']}: the credential is for node {own}"
                )
            self["node"] = own
            if self["revoked"] is not None:
                try:
                    self.revocations = RevocationFile(
                        Path(self["revoked"]), self.credentials.trust
                    )
                except RevocationFileError as e:
                    raise usage.UsageError(f"--revoked: {e}") from None
            return
        if self["revoked"] is not None:
            raise usage.UsageError("--revoked is for per-node credentials (--credential)")
        self["node"] = node_name(self["node"], self.role)
        self.key = cluster_key(self["key"], self["insecure"])


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
            " or per-node credentials: --credential, --node-key, --authority;"
            " --insecure runs without one, for a lab only)"
        )
    try:
        return read_key(Path(key_file))
    except KeyFileError as e:
        raise usage.UsageError(f"--key: {e}") from None


def node_credentials(
    credential_file: str, key_file: str, authority_file: str, role: str
) -> Credentials:
    """
    A node's L{Credentials} from its files: the credential must be signed by
    one of the authorities, be for this node key and role, and be valid now.

    @raise usage.UsageError: if a file is wrong.
    """
    try:
        authorities = read_public_keys(Path(authority_file), KeyKind.AUTHORITY)
    except KeyFileError as e:
        raise usage.UsageError(f"--authority: {e}") from None
    try:
        signing_key = read_signing_key(Path(key_file), KeyKind.NODE)
    except KeyFileError as e:
        raise usage.UsageError(f"--node-key: {e}") from None
    try:
        credential = verify_credential(read_credential_file(Path(credential_file)), authorities)
    except (OSError, ValueError) as e:
        raise usage.UsageError(f"--credential: {e}") from None
    except CredentialError as e:
        raise usage.UsageError(f"--credential {credential_file}: {e.detail}") from None
    if credential.role != role:
        raise usage.UsageError(
            f"--credential: it is a {credential.role} credential; this is a {role}"
        )
    try:
        identity = NodeIdentity(signing_key, credential)
    except ValueError as e:
        raise usage.UsageError(f"--node-key: {e}") from None
    trust = Trust(authorities)
    refused = trust.recheck(credential, time.time())
    if refused is not None:
        raise usage.UsageError(f"--credential: {refused.detail}")
    return Credentials(identity, trust)


def buck_endpoint(text: str) -> str:
    """
    A C{--buck} value as a client endpoint description: C{HOST:PORT}, or
    an endpoint string (C{tcp:host=...:port=...}, C{unix:path=...}).
    """
    return host_port_endpoint("--buck", text)


def host_port_endpoint(option: str, text: str) -> str:
    """
    An option's C{HOST:PORT} value (or an endpoint string: C{tcp:},
    C{unix:}, C{tls:}) as a client endpoint description.

    @param option: the option, for the message (C{"--buck"}).
    @raise usage.UsageError: if it is neither.
    """
    if text.startswith(("tcp:", "unix:", "tls:")):
        return text
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise usage.UsageError(f"{option} {text}: expected HOST:PORT")
    return f"tcp:host={host.strip('[]')}:port={port}"

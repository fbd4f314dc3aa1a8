"""Reloading the tailer's settings on SIGHUP, without a restart and without losing a line.

C{systemctl reload logship-tailer} (C{kill -HUP}) makes the tailer parse
its command line again, and so read its C{--config} file again
(L{logship.plumbing.config}): if the settings are good, the files to
follow, their durabilities, the bucks and R are applied at once
(L{TailerService.reconfigure}) and the revocation list is looked at; a
setting that only a restart can change (the state directory, the node's
identity, the intervals...) is named in a warning and keeps its running
value.  Settings that cannot be taken (TOML that does not parse, an
unknown key, a bad value, a missing credential file) are logged with the
file and line, and the running settings stay as they were.
"""

from __future__ import annotations

import signal
from datetime import tzinfo
from collections.abc import Callable
from types import FrameType
from typing import Any

from twisted.application.service import Service
from twisted.internet.interfaces import IReactorFromThreads, IStreamClientEndpoint
from twisted.logger import Logger
from twisted.python import usage

from logship.plumbing.config import ConfigError, ConfigOptions
from logship.tailer.service import TailerService

#: The options a reload applies; any other change waits for a restart.
RELOADED = frozenset({"buck", "source", "sources", "durability", "replicas", "config"})


class Reloader:
    """
    Parses the tailer's command line again and applies what changed.

    @ivar reloads: how many reloads were applied.
    @ivar refused: how many were refused (bad settings).
    """

    _log = Logger()

    def __init__(
        self,
        tailer: TailerService,
        current: ConfigOptions,
        options: Callable[[], ConfigOptions],
        endpoint: Callable[[str], IStreamClientEndpoint],
    ) -> None:
        """
        @param tailer: the running tailer.
        @param current: its options as parsed at start (C{argv} is parsed
            again on each reload).
        @param options: makes a fresh options object of the tap.
        @param endpoint: the client endpoint of a C{--buck} description.
        """
        self._tailer = tailer
        self._current = current
        self._options = options
        self._endpoint = endpoint
        self.reloads = 0
        self.refused = 0

    def reload(self) -> bool:
        """
        Read the settings again and apply them, or keep the running ones
        if they cannot be taken.

        @return: whether the new settings were applied.
        """
        config = self._current.config_file
        new = self._options()
        try:
            new.parseOptions(self._current.argv)
        except usage.UsageError as e:
            self.refused += 1
            path = e.path if isinstance(e, ConfigError) else config
            line = e.line if isinstance(e, ConfigError) else None
            self._log.error(
                "Reload refused, the settings stay as they were: {file}{at}: {error}",
                file=str(path),
                at="" if line is None else f" line {line}",
                line=line,
                error=str(e),
            )
            return False
        waiting = sorted(
            name
            for name in set(new) | set(self._current)
            if name not in RELOADED and _differs(new.get(name), self._current.get(name))
        )
        if waiting:
            self._log.warn(
                "Reload: {names} changed; the running values stay until a restart",
                names=", ".join(f"--{name}" for name in waiting),
            )
        self._tailer.reconfigure(
            sources=new["sources"],
            bucks={d: self._endpoint(d) for d in new["buck"]},
            replicas=new["replicas"],
        )
        self._current = new
        self.reloads += 1
        self._log.info(
            "Reloaded {file}: {sources} files or globs, {bucks} bucks, R={replicas}",
            file=str(config),
            sources=len(new["sources"]),
            bucks=len(new["buck"]),
            replicas=new["replicas"],
        )
        return True


def _differs(new: Any, old: Any) -> bool:
    """
    Whether an option's value changed (zones by name: one read from
    /etc/localtime again is another object).
    """
    if isinstance(new, tzinfo) and isinstance(old, tzinfo):
        return str(new) != str(old)
    return bool(new != old)


class ReloadOnSignal(Service):
    """
    Calls a function in the reactor's thread each time the process gets
    a signal (SIGHUP by default), while the service runs.
    """

    def __init__(
        self,
        reactor: IReactorFromThreads,
        reload: Callable[[], object],
        signum: int = signal.SIGHUP,
    ) -> None:
        self._reactor = reactor
        self._reload = reload
        self._signum = signum
        self._previous: Any = None

    def startService(self) -> None:
        super().startService()
        self._previous = signal.signal(self._signum, self._received)

    def stopService(self) -> None:
        signal.signal(self._signum, signal.SIG_DFL if self._previous is None else self._previous)
        super().stopService()

    def _received(self, signum: int, frame: FrameType | None) -> None:
        # A signal handler may only hand the work over.
        self._reactor.callFromThread(self._reload)

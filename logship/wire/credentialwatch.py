"""A periodic look at the credentials of live connections: revocation list reloads, expiries.

Every node in credential mode runs one L{CredentialWatch} (the buck for
its listener, the tailer and the porter for their connections to the
bucks): every C{interval} seconds on the injected clock it reloads the
revocation list if its file changed (L{RevocationFile}), then asks each
of its wire factories to close the connections whose peer's credential is
now revoked or expired (L{WireFactory.recheck}).  So a revocation takes
effect within one interval, without a restart, on connections old and
new.
"""

from __future__ import annotations

from collections.abc import Iterable

from twisted.application.internet import TimerService
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from logship.core.revocation import DEFAULT_INTERVAL, RevocationFile, RevocationFileError
from logship.plumbing.periodic import periodic
from logship.wire.protocol import WireFactory


class CredentialWatch:
    """
    Reloads a revocation list when it changes and closes the connections
    whose credential was revoked or expired.

    @ivar reloads: how many times a changed list was taken.
    """

    _log = Logger()

    def __init__(
        self, revocations: RevocationFile | None, factories: Iterable[WireFactory]
    ) -> None:
        """
        @param revocations: the node's revocation list file, if it has one.
        @param factories: the factories whose connections to recheck,
            iterated at each check (a live view, such as a dict's values,
            follows the factories added and removed).
        """
        self._revocations = revocations
        self._factories = factories
        self.reloads = 0

    def check(self) -> None:
        """
        Reload the list if its file changed (a damaged or missing file keeps
        the last good list, and is logged), then recheck every connection.
        """
        if self._revocations is not None:
            try:
                if self._revocations.reload_if_changed():
                    self.reloads += 1
                    self._log.info(
                        "Reloaded the revocation list {path}",
                        path=str(self._revocations.path),
                    )
            except RevocationFileError as e:
                self._log.error("Revocation list not reloaded: {error}", error=str(e))
        for factory in self._factories:
            factory.recheck()

    def service(self, clock: IReactorTime, interval: float = DEFAULT_INTERVAL) -> TimerService:
        """
        The periodic job running L{check} every C{interval} seconds.
        """
        return periodic(interval, self.check, clock, self._log)

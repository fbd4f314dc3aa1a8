"""The indexes archie reads: opened on demand, never created, closed when gone.

archie only reads: it opens indexes with C{create=False}, so it never makes
an empty database the porter did not make.  C{recent} that does not exist
yet (a porter that has not loaded anything) reads as empty.  A
C{history-<id>} index is looked up among the index URL's names before each
use (the porter drops expired ones), and an unknown one is
L{NoSuchIndex}.  At most C{max_open} history indexes stay open; the least
recently used is closed first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from logship.index import IIndex, IndexUnavailable, index_names, open_index

#: Seconds a listing of index names is trusted.
NAMES_TTL = 1.0


class NoSuchIndex(LookupError):
    """
    The asked-for index does not exist (not loaded yet, or expired).
    """


class Indexes:
    """
    The open indexes of one index URL.
    """

    _log = Logger()

    def __init__(
        self,
        url: str,
        reactor: Any,
        *,
        max_open: int = 8,
        opener: Callable[..., IIndex] = open_index,
        lister: Callable[[str, Any], Deferred[list[str]]] = index_names,
    ) -> None:
        """
        @param url: C{sqlite:DIR} or C{elasticsearch:URL}.
        @param reactor: the reactor (and clock).
        @param max_open: history indexes kept open at most.
        @param opener: L{open_index} (a seam for tests).
        @param lister: L{index_names} (a seam for tests).
        """
        self.url = url
        self._reactor = reactor
        self._max_open = max_open
        self._opener = opener
        self._lister = lister
        self._open: OrderedDict[str, IIndex] = OrderedDict()
        self._names: tuple[float, set[str]] | None = None

    async def _known(self) -> set[str]:
        now = self._reactor.seconds()
        if self._names is None or now - self._names[0] > NAMES_TTL:
            self._names = (now, set(await self._lister(self.url, self._reactor)))
        return self._names[1]

    async def get(self, name: str) -> IIndex | None:
        """
        The index C{name}, opened if need be.

        @return: the index, or C{None} for a C{recent} index that does not
            exist yet (read it as empty).
        @raise NoSuchIndex: a history index that does not exist.
        @raise IndexUnavailable: the index (or the list of indexes) cannot
            be read.
        """
        if name != "recent":
            known = await self._known()
            if name not in known:
                self._names = None  # look again next time
                await self._close(name)
                raise NoSuchIndex(name)
        index = self._open.get(name)
        if index is not None:
            self._open.move_to_end(name)
            return index
        try:
            index = self._opener(self.url, name, self._reactor, create=False)
        except IndexUnavailable:
            if name == "recent":
                return None
            raise NoSuchIndex(name) from None
        self._open[name] = index
        while len(self._open) > self._max_open + 1:  # + recent
            oldest = next(n for n in self._open if n != "recent")
            await self._close(oldest)
        return index

    async def _close(self, name: str) -> None:
        index = self._open.pop(name, None)
        if index is not None:
            try:
                await index.close()
            except Exception:
                self._log.failure("Closing index {name} failed", name=name)

    async def close(self) -> None:
        """
        Close every open index.
        """
        for name in list(self._open):
            await self._close(name)

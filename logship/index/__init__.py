"""The index seam: L{IIndex}, and L{open_index} for its two backends.

An index holds events as searchable documents keyed by identity, so that
loading the same events again changes nothing (docs/design.md "Delivery").  Two
backends implement it (C{docs/index.md}):

  - C{sqlite:DIR}: one SQLite database per index, C{DIR/<name>.sqlite}
    (L{logship.index.sqlite});
  - C{elasticsearch:http://HOST:PORT}: daily Elasticsearch indices
    C{logship-<name>-YYYY.MM.DD} (L{logship.index.elasticsearch}).

Index names are like C{recent} and C{history-<id>}: lowercase ASCII letters,
digits and dashes (L{check_name}).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from twisted.internet.defer import Deferred, fail, succeed
from zope.interface import Interface

from logship.core.event import Event
from logship.core.query import Query, SearchResult

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


class IndexUnavailable(Exception):
    """
    The index cannot be used: a directory that cannot be read or written, a
    database that is not one, a server that does not answer or refuses.
    The message says which and why.
    """


class Loaded(NamedTuple):
    """
    What a load of serialized events did.

    @ivar new: how many events were new (not already in the index).
    @ivar corrupt: how many records did not decode (skipped).
    @ivar first_error: the first corrupt record's reason, for the log.
    """

    new: int
    corrupt: int = 0
    first_error: str | None = None


class IIndex(Interface):
    """
    One named index of events.  Every method returns a L{Deferred}.
    """

    def load(events: Sequence[Event]) -> Deferred[int]:
        """
        Add events; idempotent: documents are keyed by the identity
        C{(shn, app, point, crc)}, so loading an event again (in this call
        or a later one) leaves one document.

        @return: a Deferred firing with how many events were new (the
            sqlite and elasticsearch backends can both tell).
        """

    def load_serialized(records: Sequence[bytes]) -> Deferred[Loaded]:
        """
        Like L{load}, for serialized events (L{logship.core.event.encode}, the
        form bucket files hold): each is decoded and its crc checked;
        corrupt records are skipped and counted in the result, not raised.
        A backend may use the tokens the records carry instead of
        tokenizing again (sqlite does).
        """

    def search(query: Query) -> Deferred[SearchResult]:
        """
        One page of matching events, newest first; C{total} is the number
        of matches in all, C{next} the cursor of the next page.
        """

    def count(query: Query) -> Deferred[int]:
        """
        The exact number of events matching C{query} (limit and cursor are
        ignored).
        """

    def drop_before(point: int) -> Deferred[int]:
        """
        Retention: remove every event whose point is less than C{point}.

        @return: a Deferred firing with how many were removed.
        """

    def destroy() -> Deferred[None]:
        """
        Remove the whole index (a history index that expired).  The object
        must not be used afterwards.
        """

    def close() -> Deferred[None]:
        """
        Release connections and threads.  The object must not be used
        afterwards.
        """


def check_name(name: str) -> str:
    """
    Check an index name: 1 to 63 lowercase ASCII letters, digits and
    dashes, not beginning with a dash (C{recent}, C{history-7f3a}).

    @return: C{name}.
    @raise ValueError: it is not one.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"bad index name {name!r}: use 1 to 63 lowercase letters, digits and"
            " dashes, not beginning with a dash (like recent or history-42)"
        )
    return name


def _split_url(url: str) -> tuple[str, str]:
    """
    The backend and the rest of an index URL.

    @raise ValueError: not C{sqlite:DIR} or C{elasticsearch:http(s)://...}.
    """
    kind, sep, rest = url.partition(":")
    if sep and rest and kind == "sqlite":
        return kind, rest
    if sep and kind == "elasticsearch" and re.fullmatch(r"https?://[^/\s]+/?", rest):
        return kind, rest.rstrip("/")
    raise ValueError(
        f"bad index URL {url!r}: use sqlite:DIR or elasticsearch:http://HOST:PORT"
    )


def check_url(url: str) -> str:
    """
    Check an index URL without opening anything.

    @return: C{url}.
    @raise ValueError: it is neither C{sqlite:DIR} nor
        C{elasticsearch:http://HOST:PORT}.
    """
    _split_url(url)
    return url


def open_index(url: str, name: str, reactor: Any = None, *, create: bool = True) -> IIndex:
    """
    Open (by default create) the index C{name} at C{url}.

    @param url: C{sqlite:DIR} or C{elasticsearch:http://HOST:PORT}.
    @param name: the index name (L{check_name}).
    @param reactor: the reactor (the global one if C{None}).
    @param create: make the directory and the database (sqlite) or
        install the index template (elasticsearch, on first use) if needed;
        with C{False} a missing sqlite index raises L{IndexUnavailable}.
    @raise ValueError: a bad URL or name.
    @raise IndexUnavailable: the sqlite directory cannot be used.
    """
    kind, rest = _split_url(url)
    check_name(name)
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    if kind == "sqlite":
        from logship.index.sqlite import SqliteIndex

        return SqliteIndex(rest, name, reactor, create=create)
    from logship.index.elasticsearch import ElasticsearchIndex

    return ElasticsearchIndex(rest, name, reactor, create=create)


def index_names(url: str, reactor: Any = None) -> Deferred[list[str]]:
    """
    The names of the indexes at C{url}, sorted (for the porter to find and
    expire C{history-*} indexes).

    @return: a Deferred firing with the names.
    @raise ValueError: a bad URL.
    """
    kind, rest = _split_url(url)
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    if kind == "sqlite":
        from logship.index.sqlite import sqlite_index_names

        try:
            return succeed(sqlite_index_names(rest))
        except IndexUnavailable:
            return fail()
    from logship.index.elasticsearch import elasticsearch_index_names

    return elasticsearch_index_names(rest, reactor)


__all__ = [
    "IIndex",
    "IndexUnavailable",
    "Query",
    "SearchResult",
    "check_name",
    "check_url",
    "index_names",
    "open_index",
]

"""C{logship search}: matching events of an index, newest first.

    logship search --index URL [--name recent] [--from T] [--to T]
        [--host H]... [--app A]... [--term WORD]... [--substring TEXT]...
        [--q TEXT] [--json] [--limit N] [--count]

Text lines as C{logship cat} prints them, or one JSON object per line
(C{--json}); C{--count} prints only the number of matches.  A mistake in
the arguments is one line on stderr and exit status 2; an index that
cannot be read (missing, unreachable) is one line and status 1.

The sqlite backend is read directly (no reactor); the elasticsearch one
runs the reactor for the duration of the request.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, BinaryIO, TextIO

from logship.cli.exits import DATA_ERROR, USAGE_ERROR
from logship.index import IndexUnavailable, _split_url, check_name
from logship.plumbing.onreactor import run_on_reactor
from logship.cli.timerange import add_index_arguments, add_range_arguments, parse_range
from logship.core.query import MAX_LIMIT, Query, SearchResult, parse_q
from logship.core.render import event_json, event_text


def add_search_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """
    Add the C{search} subcommand to C{subparsers} (the result of
    C{add_subparsers}); it runs L{run_search} through C{args.run}.
    """
    text = "search an index: matching events, newest first"
    sub = subparsers.add_parser("search", help=text, description=text)
    sub.set_defaults(run=run_search)
    add_index_arguments(sub)
    add_range_arguments(sub)
    sub.add_argument("--host", action="append", default=[], metavar="H")
    sub.add_argument("--app", action="append", default=[], metavar="A")
    sub.add_argument("--term", action="append", default=[], metavar="WORD",
                     help="a word, matched token by token, case ignored")
    sub.add_argument("--substring", action="append", default=[], metavar="TEXT",
                     help="text the message must contain, exactly")
    sub.add_argument("--q", default="", metavar="TEXT",
                     help='words are terms, "quoted text" is a substring')
    sub.add_argument("--json", action="store_true", help="print JSON objects")
    sub.add_argument("--limit", default="100", metavar="N",
                     help=f"at most N events, 1 to {MAX_LIMIT} (default: 100)")
    sub.add_argument("--count", action="store_true", help="print only the number of matches")
    return sub


def build_query(args: argparse.Namespace, now: float) -> Query:
    """
    The query of the command line.

    @raise ValueError: a bad time, limit, term or quote.
    """
    terms, substrings = parse_q(args.q)
    try:
        limit = int(args.limit)
    except ValueError:
        raise ValueError(f"--limit must be a whole number, not {args.limit!r}") from None
    start, end = parse_range(args, now)
    return Query(
        start=start,
        end=end,
        hosts=tuple(_arg_bytes(h) for h in args.host),
        apps=tuple(_arg_bytes(a) for a in args.app),
        terms=tuple(args.term) + terms,
        substrings=tuple(args.substring) + substrings,
        limit=limit,
    )


def _arg_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def run_search(args: argparse.Namespace, out: BinaryIO, now: float,
               err: TextIO | None = None) -> int:
    """
    Run C{logship search}.

    @param out: where results go.
    @param now: the time the command started (for relative times).
    @param err: where the error line goes (stderr by default).
    @return: the exit status: 0, 1 (index unavailable), 2 (bad arguments).
    """
    err = sys.stderr if err is None else err
    try:
        kind, rest = _split_url(args.index)
        check_name(args.name)
        query = build_query(args, now)
    except ValueError as e:
        err.write(f"logship search: {e}\n")
        return USAGE_ERROR
    try:
        if kind == "sqlite":
            answer = _sqlite(rest, args.name, query, args.count)
        else:
            answer = _elasticsearch(rest, args.name, query, args.count)
    except IndexUnavailable as e:
        err.write(f"logship search: {e}\n")
        return DATA_ERROR
    if isinstance(answer, int):
        out.write(b"%d\n" % answer)
    else:
        _write(out, answer, args.json)
    return 0


def _write(out: BinaryIO, result: SearchResult, as_json: bool) -> None:
    for event in result.events:
        if as_json:
            out.write(json.dumps(event_json(event), ensure_ascii=False).encode() + b"\n")
        else:
            out.write(event_text(event) + b"\n")


def _sqlite(directory: str, name: str, query: Query, count: bool) -> SearchResult | int:
    from logship.index.sqlite import SqliteStore, check_directory, database_path

    path = database_path(check_directory(directory, create=False), name)
    store = SqliteStore(path, create=False)
    try:
        return store.count(query) if count else store.search(query, total=False)
    finally:
        store.close()


def _elasticsearch(base: str, name: str, query: Query, count: bool) -> SearchResult | int:
    from logship.index.elasticsearch import ElasticsearchIndex

    async def work(reactor: Any) -> SearchResult | int:
        index = ElasticsearchIndex(base, name, reactor, create=False, attempts=2, timeout=30)
        try:
            return await (index.count(query) if count else index.search(query))
        finally:
            await index.close()

    try:
        return run_on_reactor(work)
    except IndexUnavailable:
        raise
    except Exception as e:
        raise IndexUnavailable(f"{base}: {type(e).__name__}: {e}") from None

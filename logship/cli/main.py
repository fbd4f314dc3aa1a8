"""The C{logship} command: parse, import, cat, keygen, credential, revoke, verify, search, export, reindex, history, check, demo.

Every user mistake ends in one line on stderr, never a traceback: exit
status 2 for bad usage (unknown option, missing file), 1 for bad data (a
corrupt bucket record, an unreadable key).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import tzinfo
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from logship.archive import ArchiveError
from logship.cli.check import add_check_parser
from logship.cli.credentials import (
    CredentialCommandError,
    add_credential_arguments,
    add_revoke_arguments,
    issue,
    revoke,
)
from logship.cli.demo import DemoError, DemoSettings, run_demo
from logship.cli.exits import DATA_ERROR, USAGE_ERROR
from logship.cli.history import (
    HistoryFailed,
    add_history_arguments,
    request_history,
)
from logship.cli.export import add_export_parser
from logship.cli.importer import import_files
from logship.cli.multiline import add_multiline_arguments, multiline_rules
from logship.cli.progress import Progress
from logship.cli.reading import (
    Unreadable,
    archive_bucket_keys,
    bucket_files,
    in_range,
    is_archive_url,
    object_key,
    open_existing_archive,
    read_file,
    read_object,
)
from logship.cli.reindex import add_reindex_parser
from logship.cli.search import add_search_parser
from logship.cli.timerange import add_range_arguments, parse_range
from logship.cli.verify import run_verify
from logship.core.bucket import check_bucket_seconds
from logship.core.event import Event
from logship.core.formats import FORMAT_NAMES, check_format
from logship.core.ingest import (
    FILE_TAG_HEAD,
    LineEncoder,
    check_host,
    file_source_tag,
    lines_at,
    this_host,
)
from logship.core.multiline import MultilineRules, join_lines
from logship.core.keys import (
    KeyFileError,
    KeyKind,
    public_path,
    write_new_key,
    write_new_signing_key,
)
from logship.core.render import event_json, event_text, whole_lines
from logship.core.zones import local_zone, parse_zone
from logship.index import IndexUnavailable
from logship.plumbing.onreactor import run_on_reactor


class CommandError(Exception):
    """
    A failure to report in one line and exit with C{status}.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def zone(text: str) -> tzinfo:
    """
    A C{--tz} value (see L{parse_zone}).
    """
    try:
        return parse_zone(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def host_name(text: str) -> bytes:
    """
    A C{--host} value: 1 to 255 bytes, no spaces.
    """
    try:
        return check_host(text.encode("utf-8", "surrogateescape"))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def format_name(text: str) -> str | None:
    """
    A C{--format} value: one of L{FORMAT_NAMES} (C{None} for C{auto}).
    """
    try:
        return check_format(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def bucket_seconds(text: str) -> int:
    """
    A C{--bucket-seconds} value: a whole number of seconds dividing an hour.
    """
    try:
        return check_bucket_seconds(int(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _existing(path: Path) -> Path:
    if not path.exists():
        raise CommandError(f"{path}: no such file or directory", USAGE_ERROR)
    return path


def _stderr(text: str) -> None:
    print(text, file=sys.stderr)


def _write_json(out: BinaryIO, events: Iterator[Event]) -> None:
    for event in events:
        out.write(json.dumps(event_json(event), ensure_ascii=False).encode() + b"\n")


def _rules(args: argparse.Namespace) -> MultilineRules | None:
    """
    The multi-line rules of a command's options (L{multiline_rules}).
    """
    try:
        return multiline_rules(args)
    except ValueError as e:
        raise CommandError(f"multi-line rules: {e}", USAGE_ERROR) from None


def cmd_parse(args: argparse.Namespace, out: BinaryIO, now: float) -> int:
    """
    C{logship parse}: one JSON object per input line (per event: with
    multi-line rules, lines joined).
    """
    rules = _rules(args)
    if str(args.file) == "-":
        stream = sys.stdin.buffer
        name = b"-"
    else:
        stream = open(_existing(args.file), "rb")
        name = os.fsencode(Path(args.file).resolve())
    with stream:
        head = stream.read(FILE_TAG_HEAD)
        source = file_source_tag(name, head)
        encoder = LineEncoder(
            host=args.host, tz=args.tz, year=args.year, source=source, hint=args.format
        )
        chunks = chain((head,), iter(lambda: stream.read(1 << 16), b""))
        lines = lines_at(chunks)
        if rules is None:
            events = (e for at, line in lines for e in encoder.events(line, now, at))
        else:
            events = (
                e
                for joined in join_lines(lines, rules)
                for e in encoder.events(joined.data, now, joined.offset, first=joined.first)
            )
        _write_json(out, whole_lines(events))
    return 0


def cmd_import(args: argparse.Namespace, out: BinaryIO, now: float) -> int:
    """
    C{logship import}: parse files into time-bucketed files, with a summary.
    """
    paths = [_existing(p) for p in args.files]
    rules = _rules(args)
    progress = Progress()
    started = time.monotonic()
    try:
        summary = import_files(
            paths,
            args.buckets,
            host=args.host,
            tz=args.tz,
            year=args.year,
            hint=args.format,
            bucket_seconds=args.bucket_seconds,
            now=now,
            progress=progress,
            multiline=rules,
        )
    except OSError as e:
        raise CommandError(f"{e.filename}: {e.strerror}", DATA_ERROR) from None
    finally:
        progress.done()
    elapsed = max(time.monotonic() - started, 1e-9)
    ratio = summary.bytes_out / summary.bytes_in if summary.bytes_in else 0.0
    print(
        f"{summary.lines} lines, {summary.events} events, {summary.buckets} buckets;"
        f" {summary.bytes_in} bytes in, {summary.bytes_out} bytes out"
        f" ({ratio:.2f}x); {summary.lines / elapsed:,.0f} lines/s",
        file=sys.stderr,
    )
    return 0


def cmd_cat(args: argparse.Namespace, out: BinaryIO, now: float) -> int:
    """
    C{logship cat}: decode bucket files, archive objects and the buckets of
    archives (L{logship.cli.reading}) to text lines or JSON, each file's
    events in point order, long lines joined again.
    """
    problems = []

    def report(problem: str) -> None:
        problems.append(problem)
        _stderr(f"logship cat: {problem}")

    try:
        start, end = parse_range(args, now)
        keys = [object_key(k) for k in args.key]
    except ValueError as e:
        raise CommandError(str(e), USAGE_ERROR) from None
    archives = [p for p in args.paths if is_archive_url(p)]
    if keys and not archives:
        raise CommandError("--key names objects of an archive: give one (dir:PATH or s3://...)",
                           USAGE_ERROR)
    if archives and not keys and start is None and end is None:
        raise CommandError("an archive is read by time range or by key: give --from/--to or --key",
                           USAGE_ERROR)
    try:
        files = bucket_files([Path(p) for p in args.paths if not is_archive_url(p)])
    except FileNotFoundError as e:
        raise CommandError(str(e), USAGE_ERROR) from None

    def write(events: Iterable[Event]) -> None:
        shown = whole_lines(in_range(events, start, end))
        if args.json:
            _write_json(out, shown)
        else:
            for event in shown:
                out.write(event_text(event) + b"\n")

    def file_events(path: Path) -> list[Event]:
        try:
            return read_file(path, report)
        except Unreadable as e:
            report(str(e))
            return []

    write(e for path in files for e in file_events(path))
    if archives:
        try:
            run_on_reactor(lambda reactor: cat_archives(reactor, archives, keys, start, end,
                                                        write, report))
        except (ValueError, ArchiveError) as e:
            raise CommandError(str(e), USAGE_ERROR) from None
    return DATA_ERROR if problems else 0


async def cat_archives(
    reactor: Any,
    urls: Sequence[str],
    keys: Sequence[str],
    start: int | None,
    end: int | None,
    write: Callable[[list[Event]], None],
    report: Callable[[str], None],
) -> None:
    """
    Write the events of C{keys} (or else of the range) of each archive,
    object by object; an object that cannot be read goes to C{report}.
    """
    for url in urls:
        archive = open_existing_archive(url, reactor)
        try:
            wanted = keys or [key for _, key in await archive_bucket_keys(archive, start, end)]
            for key in wanted:
                try:
                    write(sorted(await read_object(archive, key), key=lambda e: e.point))
                except Unreadable as e:
                    report(f"{url}: {e}")
        finally:
            await archive.close()


def cmd_verify(args: argparse.Namespace, out: BinaryIO, now: float) -> int:
    """
    C{logship verify}: compare log files with what was stored of them
    (L{logship.cli.verify}).
    """
    for path in args.files:
        _existing(path)
    try:
        return run_verify(args, out, run_on_reactor, now)
    except (ValueError, IndexUnavailable, ArchiveError, Unreadable) as e:
        data = isinstance(e, (IndexUnavailable, Unreadable))
        raise CommandError(str(e), DATA_ERROR if data else USAGE_ERROR) from None
    except OSError as e:
        problem = str(e) if e.filename is None else f"{e.filename}: {e.strerror}"
        raise CommandError(problem, USAGE_ERROR) from None


def cmd_keygen(args: argparse.Namespace, out: BinaryIO, now: float) -> int:
    """
    C{logship keygen}: write a new key, mode 0600, never overwriting: the
    lab's cluster key, or with C{--authority} or C{--node} a signing key
    and its public half in C{PATH.pub}.
    """
    try:
        if args.kind is None:
            write_new_key(args.path)
        else:
            write_new_signing_key(args.path, args.kind)
    except KeyFileError as e:
        raise CommandError(str(e), DATA_ERROR) from None
    if args.kind is None:
        print(f"wrote a new cluster key to {args.path}", file=sys.stderr)
    else:
        print(
            f"wrote a new {args.kind} key to {args.path} (secret, mode 0600)"
            f" and {public_path(args.path)} (public)",
            file=sys.stderr,
        )
    return 0


def cmd_credential(args: argparse.Namespace, out: BinaryIO, now: float) -> int:
    """
    C{logship credential} (L{logship.cli.credentials}), valid from C{now}.
    """
    try:
        return issue(args, now, sys.stderr)
    except CredentialCommandError as e:
        raise CommandError(str(e), e.status) from None


def cmd_revoke(args: argparse.Namespace, out: BinaryIO, now: float) -> int:
    """
    C{logship revoke} (L{logship.cli.credentials}).
    """
    try:
        return revoke(args, sys.stderr)
    except CredentialCommandError as e:
        raise CommandError(str(e), e.status) from None


def cmd_demo(args: argparse.Namespace, out: BinaryIO, now: float) -> int:
    """
    C{logship demo}: the whole system on this machine (L{logship.cli.demo}).
    """
    settings = DemoSettings(
        workdir=args.workdir.resolve(),
        files=[_existing(p).resolve() for p in args.files],
        port_base=args.port_base,
        bucket_seconds=args.bucket_seconds,
        rate=args.rate,
        quiet=args.quiet,
        metrics=args.metrics,
    )
    try:
        return run_demo(settings, args.duration)
    except DemoError as e:
        raise CommandError(str(e), USAGE_ERROR) from None


def cmd_history(args: argparse.Namespace, out: BinaryIO, now: float) -> int:
    """
    The C{logship history} command (L{logship.cli.history}).
    """
    try:
        return run_on_reactor(lambda reactor: request_history(reactor, args, out, sys.stderr))
    except HistoryFailed as e:
        raise CommandError(str(e), e.status) from None


def build_parser() -> argparse.ArgumentParser:
    """
    The argument parser of every C{logship} command.  Each command runs as
    C{args.run(args, out, now)}: C{out} is stdout's bytes, C{now} the time
    the command started (seconds since the epoch).
    """
    parser = argparse.ArgumentParser(
        prog="logship", description="Collect, store and use event logs."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, run: Callable[[argparse.Namespace, BinaryIO, float], int], help: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(run=run)
        return sub

    def add_reading(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--host",
            type=host_name,
            default=this_host(),
            help="host name for lines that do not name one (default: this host)",
        )
        sub.add_argument(
            "--year", type=int, help="year of timestamps without one (default: inferred)"
        )
        sub.add_argument(
            "--tz",
            type=zone,
            default=local_zone(),
            help="time zone of timestamps without an offset (default: local)",
        )
        sub.add_argument(
            "--format",
            type=format_name,
            metavar="NAME",
            help="the shape of the lines where guessing is ambiguous: "
            + ", ".join(FORMAT_NAMES) + " (default: auto, guess)",
        )

    sub = add("parse", cmd_parse, "parse log lines and print one JSON object per line")
    add_reading(sub)
    add_multiline_arguments(sub)
    sub.add_argument("file", nargs="?", type=Path, default=Path("-"), metavar="FILE|-")

    sub = add("import", cmd_import, "parse log files into time-bucketed files")
    add_reading(sub)
    add_multiline_arguments(sub)
    sub.add_argument("files", nargs="+", type=Path, metavar="FILE")
    sub.add_argument("--buckets", type=Path, required=True, metavar="DIR")
    sub.add_argument(
        "--bucket-seconds",
        type=bucket_seconds,
        default=60,
        help="bucket interval in seconds (default: 60)",
    )

    sub = add("cat", cmd_cat, "decode bucket files, archive objects, directories of them,"
              " or an archive's buckets, in time order")
    sub.add_argument("paths", nargs="+", metavar="PATH|ARCHIVE",
                     help="a bucket file (.b), an archive object (.lsp), a directory of them,"
                     " or an archive: dir:PATH or s3://BUCKET[/PREFIX]?endpoint=URL")
    add_range_arguments(sub)
    sub.add_argument("--key", action="append", default=[], metavar="KEY",
                     help="an archive's bucket object to read (buckets/2026/11/26/09/37.lsp,"
                     " or 2026/11/26/09/37); repeatable; instead of --from/--to")
    sub.add_argument("--json", action="store_true", help="print JSON objects")

    sub = add("verify", cmd_verify, "compare log files with the events stored of them")
    add_reading(sub)
    sub.add_argument("files", nargs="+", type=Path, metavar="FILE")
    sub.add_argument("--against", required=True, metavar="TARGET",
                     help="bucket files or a directory of them, an index (sqlite:DIR,"
                     " elasticsearch:URL) or an archive (dir:PATH, s3://BUCKET...)")
    sub.add_argument("--name", default="recent", help="the index name (default: recent)")
    sub.add_argument("--slack", type=float, default=3600.0, metavar="SECONDS",
                     help="widen the files' time range by this much (default 3600)")
    sub.add_argument("--show", type=int, default=20, metavar="N",
                     help="print at most N missing and N extra lines (default 20)")

    sub = add("keygen", cmd_keygen, "write a new key (mode 0600): the cluster key of a lab,"
              " or with --authority or --node a signing key and PATH.pub")
    kinds = sub.add_mutually_exclusive_group()
    kinds.add_argument("--authority", dest="kind", action="store_const",
                       const=KeyKind.AUTHORITY,
                       help="the cluster authority's key, which signs credentials (keep it off the cluster)")
    kinds.add_argument("--node", dest="kind", action="store_const", const=KeyKind.NODE,
                       help="a node's key (make it on the node; send PATH.pub to the authority)")
    sub.add_argument("path", type=Path, metavar="PATH")

    sub = add("credential", cmd_credential,
              "sign a node's public key into a credential (name, role, hosts, expiry)")
    add_credential_arguments(sub)

    sub = add("revoke", cmd_revoke, "add credentials or node keys to a revocation list")
    add_revoke_arguments(sub)

    add_search_parser(commands)
    add_export_parser(commands)
    add_reindex_parser(commands)
    add_check_parser(commands)

    sub = add("history", cmd_history, "load a past time range into a history index (via the porter)")
    add_history_arguments(sub)

    sub = add("demo", cmd_demo, "run 3 bucks, a tailer, the porter and the web page here")
    sub.add_argument("--workdir", type=Path, default=Path("demo-work"), metavar="DIR",
                     help="where everything lives (default: ./demo-work; kept between runs)")
    sub.add_argument("--port-base", type=int, default=4400, metavar="B",
                     help="bucks on B+1..3 (live B+11..13), the page on B+80, the porter B+90")
    sub.add_argument("--bucket-seconds", type=bucket_seconds, default=10,
                     help="the bucket interval (default 10: search shows lines within ~20 s)")
    sub.add_argument("--rate", type=float, default=20.0,
                     help="sample lines per second when no files are given (default 20)")
    sub.add_argument("--quiet", type=float, default=300.0,
                     help="seconds before a bucket is archived (default 300)")
    sub.add_argument("--metrics", action="store_true",
                     help="serve each service's metrics on B+100..105 (tailer, bucks, porter,"
                          " archie) and print the URLs")
    sub.add_argument("--duration", type=float, metavar="SECONDS",
                     help="stop after this long (default: at Ctrl-C)")
    sub.add_argument("files", nargs="*", type=Path, metavar="FILE",
                     help="files to follow (default: a generated sample log)")
    return parser


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """
    Run the C{logship} command and exit with its status.
    """
    from twisted.internet import reactor  # the edge: the one time source

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.run(args, sys.stdout.buffer, reactor.seconds())
        sys.stdout.flush()
    except CommandError as e:
        print(f"logship {args.command}: {e}", file=sys.stderr)
        status = e.status
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        status = 0
    except KeyboardInterrupt:
        status = 130
    sys.exit(status)

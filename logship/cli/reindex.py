"""C{logship reindex}: an index built from the archive, on any machine, resumable.

    logship reindex --archive dir:PATH|s3://... --from T [--to T]
        --index URL [--name recent] [--state FILE] [--quiet]

The incident tool of docs/design.md: no porter, no bucks; the archive's
bucket objects of the range (C{buckets/...lsp}) are read one by one,
checked (L{logship.core.pack.unpack} verifies each object's checksum),
and their events in C{[--from, --to)} loaded into the index
(C{sqlite:DIR} or C{elasticsearch:URL}).  Loads are keyed by identity, so
the result is the index the porter had loaded from the same buckets, and
a reindex over an index that has the events adds nothing.

Progress is one line on stderr when it is a terminal (not with
C{--quiet}); a summary follows (objects, events, seconds).  An object
that cannot be read (missing, corrupt) is one line naming it, the others
are loaded, and the exit status is 1.

Resuming: after each object is loaded, its key is added to a small state
file, written whole under a temporary name and renamed
(L{logship.tailer.checkpoint.save_checkpoint}): C{DIR/NAME.reindex.json}
next to a sqlite index, else C{./reindex-NAME.json}, or C{--state FILE}.
After Ctrl-C (or a crash) the same command skips the objects done and
keeps the range of the first run (C{now} and relative times are not taken
again); the object that was being loaded is loaded again, which adds
nothing twice.  The state file is removed once every object is loaded; a
state file of another run (another archive, index, name or range) is
replaced.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from logship.archive import ArchiveError
from logship.cli.exits import DATA_ERROR, INTERRUPTED, USAGE_ERROR
from logship.cli.progress import Progress
from logship.cli.reading import (
    Unreadable,
    archive_bucket_keys,
    in_range,
    open_existing_archive,
    read_object,
)
from logship.cli.timerange import add_index_arguments, add_range_arguments, parse_range
from logship.index import IndexUnavailable, _split_url, check_name, open_index
from logship.plumbing.onreactor import run_on_reactor
from logship.tailer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


#: The version of the state file's layout.
STATE_VERSION = 1


def add_reindex_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """
    Add the C{reindex} subcommand to C{subparsers}; it runs L{run_reindex}.
    """
    text = "build an index from the archive's buckets, without a porter (resumable)"
    sub = subparsers.add_parser("reindex", help=text, description=text)
    sub.set_defaults(run=run_reindex)
    sub.add_argument("--archive", required=True, metavar="URL",
                     help="dir:PATH or s3://BUCKET[/PREFIX]?endpoint=URL")
    add_range_arguments(sub, from_required=True, to_default="now")
    add_index_arguments(sub)
    sub.add_argument("--state", type=Path, metavar="FILE",
                     help="the resume state (default: DIR/NAME.reindex.json beside a sqlite"
                     " index, else ./reindex-NAME.json)")
    sub.add_argument("--quiet", action="store_true", help="no progress bar")
    return sub


def state_path(index: str, name: str, given: Path | None) -> Path:
    """
    Where the resume state of a reindex into C{index}/C{name} is kept.
    """
    if given is not None:
        return given
    kind, rest = _split_url(index)
    if kind == "sqlite":
        return Path(rest) / f"{name}.reindex.json"
    return Path(f"reindex-{name}.json")


@dataclass
class Run:
    """
    One reindex, as its state file records it.

    @ivar identity: what makes two runs the same run (URLs, name, the range
        as given).
    @ivar start: the first point.
    @ivar end: the point after the last.
    @ivar done: the keys of the objects loaded.
    """

    identity: dict[str, Any]
    start: int
    end: int
    done: set[str] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        """
        The state file's contents.
        """
        return {"version": STATE_VERSION, "run": self.identity, "start": self.start,
                "end": self.end, "done": sorted(self.done)}


def resumed(path: Path, identity: dict[str, Any], start: int, end: int,
            err: TextIO) -> Run:
    """
    The run to do: the one saved at C{path} if it is this one, else a new
    one from C{start} to C{end}.
    """
    try:
        saved = load_checkpoint(path)
    except CheckpointError as e:
        err.write(f"logship reindex: {e}; starting over\n")
        saved = None
    if saved is None:
        return Run(identity, start, end)
    if saved.get("version") != STATE_VERSION or saved.get("run") != identity:
        err.write(f"logship reindex: {path} is the state of another run; starting over\n")
        return Run(identity, start, end)
    run = Run(identity, int(saved["start"]), int(saved["end"]), set(saved["done"]))
    err.write(f"logship reindex: resuming from {path}: {len(run.done)} objects done before\n")
    return run


@dataclass
class Reindexed:
    """
    What a reindex did.

    @ivar objects: objects in the range.
    @ivar skipped: of those, done before (by an interrupted run).
    @ivar loaded: objects loaded now.
    @ivar events: events of the range read from them.
    @ivar new: of those, events the index did not have.
    @ivar unreadable: objects that could not be read.
    """

    objects: int = 0
    skipped: int = 0
    loaded: int = 0
    events: int = 0
    new: int = 0
    unreadable: int = 0


async def reindex(reactor: Any, args: argparse.Namespace, run: Run, state: Path,
                  progress: Progress, err: TextIO, done: Reindexed) -> None:
    """
    Load the objects of C{run} not done yet, saving the state after each;
    C{done} counts as it goes (it is read after an interruption).
    """
    archive = open_existing_archive(args.archive, reactor)
    index = open_index(args.index, args.name, reactor)
    try:
        keys = [key for _, key in await archive_bucket_keys(archive, run.start, run.end)]
        done.objects = len(keys)
        for number, key in enumerate(keys, 1):
            if key in run.done:
                done.skipped += 1
                continue
            try:
                events = in_range(await read_object(archive, key), run.start, run.end)
            except Unreadable as e:
                progress.done()
                err.write(f"logship reindex: {args.archive}: {e}\n")
                done.unreadable += 1
                continue
            done.new += await index.load(events)
            done.events += len(events)
            done.loaded += 1
            run.done.add(key)
            save_checkpoint(state, run.to_json())
            progress(key, number, len(keys), f"{done.events:,} events")
    finally:
        await index.close()
        await archive.close()


def run_reindex(args: argparse.Namespace, out: BinaryIO, now: float,
                err: TextIO | None = None) -> int:
    """
    Run C{logship reindex}.

    @return: the exit status: 0; 1 (objects unreadable, the index or the
        archive failed); 2 (bad arguments); 130 (interrupted: run again).
    """
    err = sys.stderr if err is None else err
    try:
        _split_url(args.index)
        check_name(args.name)
        start, end = parse_range(args, now)
        state = state_path(args.index, args.name, args.state)
    except ValueError as e:
        err.write(f"logship reindex: {e}\n")
        return USAGE_ERROR
    assert start is not None and end is not None
    identity = {"archive": args.archive, "index": args.index, "name": args.name,
                "from": args.start, "to": args.end}
    run = resumed(state, identity, start, end, err)
    progress = Progress(err, quiet=args.quiet)
    done = Reindexed()
    began = time.monotonic()
    try:
        run_on_reactor(lambda reactor: reindex(reactor, args, run, state, progress, err, done))
    except KeyboardInterrupt:
        progress.done()
        err.write(f"logship reindex: interrupted after {len(run.done)} of {done.objects}"
                  f" objects; the same command resumes ({state})\n")
        return INTERRUPTED
    except ValueError as e:
        progress.done()
        err.write(f"logship reindex: {e}\n")
        return USAGE_ERROR
    except (IndexUnavailable, ArchiveError, OSError) as e:
        progress.done()
        problem = f"{e.filename}: {e.strerror}" if isinstance(e, OSError) and e.filename else e
        err.write(f"logship reindex: {problem}\n")
        return DATA_ERROR
    progress.done()
    err.write(
        f"logship reindex: {done.objects} objects ({done.skipped} done before,"
        f" {done.unreadable} unreadable), {done.events} events loaded ({done.new} new)"
        f" into {args.index} {args.name}; {time.monotonic() - began:.1f} s\n"
    )
    if done.unreadable:
        return DATA_ERROR
    state.unlink(missing_ok=True)
    return 0

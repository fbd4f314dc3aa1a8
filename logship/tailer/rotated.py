"""Find the rotated generations of a log file under logrotate's names.

Pure file-system listing, no reading.  For a configured path C{DIR/NAME} the
rotated files live in the same directory (logrotate's C{olddir} is not
supported) under one of these names:

  - numbered (logrotate's default, C{rotate N}): C{NAME.1}, C{NAME.2} ...,
    higher numbers older; C{NAME.0} (savelog) counts as the newest;
  - dated (C{dateext}): C{NAME-YYYYMMDD}, C{NAME-YYYYMMDDHH},
    C{NAME-YYYYMMDDHHMM}, C{NAME-YYYYMMDDHHMMSS}, optionally followed by
    C{-SECONDS} (C{dateformat -%Y%m%d-%s}); earlier dates older;
  - each of them with C{.gz} once compressed (C{compress}; C{delaycompress}
    keeps the newest one plain for a cycle).

When a plain file and its C{.gz} twin both exist (C{NAME.2} and
C{NAME.2.gz}), a compression is in progress: the C{.gz} is still being
written, so only the plain file is listed.  Other compression formats
(C{.bz2}, C{.xz}, C{.zst}) and logrotate's C{extension} option
(C{NAME-YYYYMMDD.log}) are not recognised.

Within one naming scheme the names give the order.  If both schemes are
present (the configuration changed), the two lists are merged by
modification time, keeping each list's own order.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

#: The suffix of a compressed rotated file.
GZIP_SUFFIX = ".gz"

_NUMBERED = re.compile(r"^\.(\d{1,9})(\.gz)?$")
_DATED = re.compile(r"^-(\d{8}|\d{10}|\d{12}|\d{14})(?:-(\d{1,20}))?(\.gz)?$")


@dataclass(frozen=True, slots=True)
class RotatedFile:
    """
    One rotated generation of a log file, as found in its directory.

    @ivar path: where it is.
    @ivar gz: whether it is gzip-compressed.
    @ivar stat: its C{os.stat} result when it was listed.
    """

    path: Path
    gz: bool
    stat: os.stat_result


def is_gzip_name(path: Path) -> bool:
    """
    Whether C{path} names a gzip-compressed rotated file.
    """
    return path.name.endswith(GZIP_SUFFIX)


def scan_rotated(path: Path) -> list[RotatedFile]:
    """
    The rotated generations of C{path}, oldest first, with their C{stat}.

    Files that vanish while the directory is listed, and anything that is
    not a regular file, are left out.  A missing directory gives C{[]}.

    @param path: the configured (live) path of the log file.
    @return: the rotated files, oldest first.
    """
    directory = path.parent
    base = path.name
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    # name -> (sort key, ascending from oldest; compressed?)
    numbered: dict[str, tuple[tuple[int, int], bool]] = {}
    dated: dict[str, tuple[tuple[int, int], bool]] = {}
    for name in names:
        if not name.startswith(base) or name == base:
            continue
        suffix = name[len(base) :]
        found = _NUMBERED.match(suffix)
        if found is not None:
            numbered[name] = ((-int(found.group(1)), 0), found.group(2) is not None)
            continue
        found = _DATED.match(suffix)
        if found is not None:
            when = int(found.group(1).ljust(14, "0"))
            seconds = int(found.group(2)) if found.group(2) else 0
            dated[name] = ((when, seconds), found.group(3) is not None)
    numbered_files = _collect(directory, numbered)
    dated_files = _collect(directory, dated)
    return _merge_by_mtime(dated_files, numbered_files)


def rotated_candidates(path: Path) -> list[Path]:
    """
    The rotated generations of C{path}, oldest first.

    @param path: the configured (live) path of the log file.
    @return: paths of the rotated files (see the module docstring for the
        names), oldest first; a compressed file whose plain twin exists is
        left out.
    """
    return [found.path for found in scan_rotated(Path(path))]


def _collect(
    directory: Path, entries: dict[str, tuple[tuple[int, int], bool]]
) -> list[RotatedFile]:
    """
    Stat the matched names, drop C{.gz} twins of plain files, sort oldest
    first.

    @param entries: name -> (sort key, smaller is older; compressed?).
    """
    plain_names = {name for name, (_, gz) in entries.items() if not gz}
    keyed: list[tuple[tuple[int, int], str, RotatedFile]] = []
    for name, (key, gz) in entries.items():
        if gz and name[: -len(GZIP_SUFFIX)] in plain_names:
            continue
        full = directory / name
        try:
            result = os.stat(full)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if not stat.S_ISREG(result.st_mode):
            continue
        keyed.append((key, name, RotatedFile(full, gz, result)))
    # The name only makes the order total (e.g. NAME.01 next to NAME.1).
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [item[2] for item in keyed]


def _merge_by_mtime(
    first: list[RotatedFile], second: list[RotatedFile]
) -> list[RotatedFile]:
    """
    Merge two oldest-first lists by modification time, keeping each list's
    order (a stable merge; on equal times C{first} goes first).
    """
    if not first:
        return second
    if not second:
        return first
    merged: list[RotatedFile] = []
    i = j = 0
    while i < len(first) and j < len(second):
        if second[j].stat.st_mtime_ns < first[i].stat.st_mtime_ns:
            merged.append(second[j])
            j += 1
        else:
            merged.append(first[i])
            i += 1
    merged.extend(first[i:])
    merged.extend(second[j:])
    return merged

"""What the harness writes into the followed logs: lines of six kinds, by phase.

Pure: the same seed and start time give the same lines.  Two files are
written: C{app.log} (a syslog-like log) and C{access.log} (a proxy's
access log).  The kinds, each made to stress how events are told apart:

  - L{CORPUS}: a corpus log (L{logship.core.sample.sample_lines}) written
    three times over, as a replayed or restored log: each replay jumps
    back in time to the first line's time;
  - L{ACCESS}: access log lines stamped with their request's start time,
    out of order by up to 10 s, with identical health-check lines in the
    same second;
  - L{IDENTICAL}: bursts of one line repeated with one timestamp, each
    burst written again in a later phase;
  - L{LONG}: lines over 64 KiB (split into several events);
  - L{INVALID}: lines with bytes that are not UTF-8, with and without a
    syslog header;
  - L{HEADERLESS}: lines without a timestamp (their time is the tailer's
    clock when it reads them), a few texts over and over.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from logship.core.sample import sample_lines

CORPUS = "corpus replayed"
ACCESS = "out-of-order access log"
IDENTICAL = "identical lines"
LONG = "lines over 64 KiB"
INVALID = "invalid UTF-8"
HEADERLESS = "no timestamp"

#: Every input kind, in table order.
KINDS = (CORPUS, ACCESS, IDENTICAL, LONG, INVALID, HEADERLESS)

APP_LOG = "app.log"
ACCESS_LOG = "access.log"

#: How often the corpus is written.
REPLAYS = 3

_WORDS = (b"alpha", b"bravo", b"charlie", b"delta", b"echo", b"foxtrot", b"golf",
          b"hotel", b"india", b"juliet", b"kilo", b"lima", b"mike", b"november")


@dataclass(frozen=True)
class Line:
    """
    One line the harness writes.

    @ivar kind: one of L{KINDS}.
    @ivar file: L{APP_LOG} or L{ACCESS_LOG}.
    @ivar data: the line, without its LF.
    @ivar phase: the phase that writes it.
    """

    kind: str
    file: str
    data: bytes
    phase: int


@dataclass(frozen=True)
class Sizes:
    """
    How much of each kind a run writes.
    """

    corpus: int
    corpus_rate: float
    access: int
    access_rate: float
    bursts: int
    burst: int
    long: int
    long_bytes: tuple[int, int]
    invalid: int
    headerless: int

    @classmethod
    def for_mode(cls, quick: bool) -> Sizes:
        if quick:
            return cls(corpus=240, corpus_rate=12.0, access=300, access_rate=15.0, bursts=2,
                       burst=15, long=2, long_bytes=(66_000, 100_000), invalid=30, headerless=45)
        return cls(corpus=1500, corpus_rate=25.0, access=2500, access_rate=40.0, bursts=4,
                   burst=40, long=6, long_bytes=(66_000, 250_000), invalid=100, headerless=240)


def _syslog_stamp(when: float) -> bytes:
    """
    An RFC 3164 file-layout timestamp in local time, as syslog writes it.
    """
    return time.strftime("%b %e %H:%M:%S", time.localtime(when)).encode()


def _iso_stamp(when: float) -> bytes:
    """
    An RFC 3339 timestamp to the second, in UTC (rsyslog's file format).
    """
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(when)).encode()


def _access_lines(rng: random.Random, count: int, rate: float, start: float) -> list[bytes]:
    """
    A proxy's access log, C{rate} lines a second from C{start}: requests
    logged when they end, stamped with when they began (up to 10 s
    earlier); one in five a health check, whose text is the same every
    time, so identical lines share seconds.
    """
    lines = []
    for i in range(count):
        ended = start + i / rate
        began = ended - (rng.uniform(0, 10) if rng.random() < 0.6 else rng.uniform(0, 1))
        if rng.random() < 0.2:
            request = b'10.0.0.2 - - "GET /health HTTP/1.1" 200 2 rt=0.001'
        else:
            request = b'10.%d.%d.%d - - "GET /api/v1/items/%d HTTP/1.1" %d %d rt=%.3f' % (
                rng.randrange(256), rng.randrange(256), rng.randrange(1, 255),
                rng.randrange(100_000), rng.choice([200, 200, 304, 404, 500]),
                rng.randrange(100, 90_000), rng.random())
        lines.append(b"%s proxy1 haproxy[4242]: %s" % (_iso_stamp(began), request))
    return lines


def _long_line(rng: random.Random, when: float, size: int) -> bytes:
    head = b"%s web2 bigjob[900]: dump %d " % (_syslog_stamp(when), rng.randrange(10**6))
    words = []
    length = len(head)
    while length < size:
        word = rng.choice(_WORDS) + b"%d" % rng.randrange(1000)
        words.append(word)
        length += len(word) + 1
    return head + b" ".join(words)


def _invalid_line(rng: random.Random, when: float, i: int) -> bytes:
    junk = bytes(rng.choice([0xFF, 0xFE, 0xC3, 0x80, 0xED, 0xA0, 0xBF, 0xC0, 0xF8])
                 for _ in range(rng.randrange(2, 12)))
    if i % 3 == 0:
        return b"\xff\xfebinary record %d %s" % (i, junk)
    return b"%s db1 legacy[77]: name=%s id=%d" % (_syslog_stamp(when), junk, i)


def _spread(lines: list[bytes], phases: int) -> list[list[bytes]]:
    """
    C{lines} cut, in order, into C{phases} slices of nearly equal size.
    """
    return [lines[len(lines) * p // phases : len(lines) * (p + 1) // phases]
            for p in range(phases)]


def plan_inputs(seed: int, phases: int, quick: bool, start: float) -> list[list[Line]]:
    """
    Every line a run writes, phase by phase, in writing order.

    @param seed: the run's seed (the same seed, the same lines).
    @param phases: how many phases the run has (at least 2).
    @param quick: smaller amounts (L{Sizes.for_mode}).
    @param start: the run's start time; line times lie around it, all but
        the lines without one before C{start - 30}.
    @return: one list of L{Line}s per phase.
    """
    rng = random.Random(seed * 7919 + 17)
    sizes = Sizes.for_mode(quick)
    by_phase: list[list[Line]] = [[] for _ in range(phases)]

    # Every timestamped line lies in the same span, which ends 30 s before
    # the start: at the end of a run, every bucket of it that grew must be
    # shipped again by the tailers (one at a time) and archived again.
    span = max(sizes.corpus / sizes.corpus_rate, sizes.access / sizes.access_rate)
    first = start - 30 - span
    corpus = list(sample_lines(sizes.corpus, start=first, rate=sizes.corpus_rate,
                               seed=seed % 1000))
    for p, part in enumerate(_spread(corpus * REPLAYS, phases)):
        by_phase[p] += [Line(CORPUS, APP_LOG, data, p) for data in part]

    access = _access_lines(rng, sizes.access, sizes.access_rate, first)
    for p, part in enumerate(_spread(access, phases)):
        by_phase[p] += [Line(ACCESS, ACCESS_LOG, data, p) for data in part]

    for b in range(sizes.bursts):
        when = first + span * (b + 0.5) / sizes.bursts
        text = b"%s web1 api[31]: connection from 10.9.9.%d reset by peer" % (
            _syslog_stamp(when), b)
        once = b % phases
        again = rng.randrange(once + 1, phases) if once + 1 < phases else once
        for p in (once, again):
            by_phase[p] += [Line(IDENTICAL, APP_LOG, text, p)] * sizes.burst

    for i in range(sizes.long):
        data = _long_line(rng, rng.uniform(first, first + span), rng.randrange(*sizes.long_bytes))
        p = rng.randrange(phases)
        by_phase[p].append(Line(LONG, APP_LOG, data, p))

    invalid = [_invalid_line(rng, rng.uniform(first, first + span), i)
               for i in range(sizes.invalid)]
    for p, part in enumerate(_spread(invalid, phases)):
        by_phase[p] += [Line(INVALID, APP_LOG, data, p) for data in part]

    headerless = [b"worker %d: heartbeat ok" % (i % 5) for i in range(sizes.headerless)]
    for p, part in enumerate(_spread(headerless, phases)):
        by_phase[p] += [Line(HEADERLESS, APP_LOG, data, p) for data in part]

    for lines in by_phase:
        _interleave(rng, lines)
    return by_phase


def _interleave(rng: random.Random, lines: list[Line]) -> None:
    """
    Mix the kinds of one phase, in blocks, keeping each kind's order (a
    replay stays a replay, the access log stays in its order).
    """
    blocks: dict[str, list[list[Line]]] = {}
    for kind in KINDS:
        mine = [line for line in lines if line.kind == kind]
        size = max(1, len(mine) // 6)
        blocks[kind] = [mine[i : i + size] for i in range(0, len(mine), size)]
    order = [kind for kind, parts in blocks.items() for _ in parts]
    rng.shuffle(order)
    lines.clear()
    for kind in order:
        lines += blocks[kind].pop(0)

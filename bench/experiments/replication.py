"""Experiment 2: masterless random replication against an elected leader, simulated.

Run: C{.venv/bin/python bench/experiments/replication.py [--quick] [--out DIR]
[--scenarios K] [--seed S]} (docs/experiments.md, section 2, states every
assumption; the defaults are the figures of that page).

A seeded, pure-Python simulation of two designs, not of the services:

  - B{masterless} (logship): each batch goes to R = 2 random connected bucks
    and is delivered once both acknowledged; a copy whose buck does not
    answer is sent to another buck after the ack timeout (the rules of
    C{logship/tailer/delivery.py}); the tailer keeps every event in its
    spool, ships each closed minute bucket whole to one random buck (after
    one interval plus a random delay of up to one), asks that buck every
    archive check and ships the bucket again to another buck when it
    answers that it does not have it (a wiped disk), at a bounded rate
    (C{logship/tailer/shipper.py}); bucks never copy data among themselves;
    a dead buck is dropped by the wire's ping after C{dead_peer_timeout}.
  - B{leader} (Kafka-like): P partitions, each with RF replicas placed
    round-robin; the producer writes to partition leaders with acks=all and
    min.insync.replicas = 2; a follower that stops fetching leaves the ISR
    after a lag time (writes wait for it until then); a failed leader is
    replaced by an ISR member after the session timeout (unclean election
    off: no ISR member up means the partition is offline); a returning
    replica fetches what it missed (everything, when its disk was lost) at
    a bounded replication rate and rejoins the ISR when caught up.

Each scenario draws two failures of distinct servers (simultaneous with some
probability, else apart by an exponential gap), their downtimes (lognormal)
and whether each loses its disk; both designs run the same scenario.  Time
advances in ticks of C{--tick} seconds; each tick the producer sends that
tick's events.  Measured per scenario: events lost, event-seconds not
readable and not writable (acknowledged late), messages and bytes on the
wire per event, and the time from the last failure until every event has
its normal number of copies again.

Message sizes are calibrated with logship's own code: real sample events
(L{logship.core.sample}, L{logship.core.ingest.LineEncoder}) encoded as the
wire's L{Batch}, L{Ack}, L{BucketPut} and L{BucketData} messages, plus the
frame prefix and the session seal's overhead.  The Kafka-like sizes use
the same compressed payload plus its protocol's record batch header and
request overheads (constants below).

Outputs in C{--out} (default docs/experiments/): C{replication.json} (every
figure and the parameters), C{replication.csv} (one row per design and N)
and C{replication.png}.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from datetime import timezone
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from logship.core.bucket import encode_record  # noqa: E402
from logship.core.event import encode  # noqa: E402
from logship.core.ingest import LineEncoder  # noqa: E402
from logship.core.sample import sample_lines  # noqa: E402
from logship.wire.framing import PREFIX_SIZE  # noqa: E402
from logship.wire.messages import (  # noqa: E402
    MAX_CHUNK,
    Ack,
    Batch,
    BucketData,
    BucketPut,
    encode_message,
)
from logship.wire.seal import SESSION_OVERHEAD  # noqa: E402
from outputs import say_row, write_outputs  # noqa: E402

#: Kafka protocol overheads (bytes), from its protocol guide: a record
#: batch header is 61 bytes; a record adds ~8 bytes of varint fields
#: around its value; a request or response header with the topic and
#: partition fields ~60 bytes; a produce response per partition ~50.
KAFKA_BATCH_HEADER = 61
KAFKA_RECORD_OVERHEAD = 8
KAFKA_REQUEST_OVERHEAD = 60
KAFKA_RESPONSE = 50 + 4


@dataclass
class Params:
    """
    Everything a run assumes (written into the JSON with the results).
    """

    servers: list[int] = field(default_factory=lambda: [3, 4, 5, 6])
    scenarios: int = 20
    seed: int = 2
    tick: float = 5.0  # s
    rate: float = 2000.0  # events/s from all tailers together
    batch_events: int = 500  # events per batch (the tailer sends up to 1000)
    replicas: int = 2  # R of logship
    leader_rf: list[int] = field(default_factory=lambda: [2, 3])
    min_insync: int = 2
    partitions_per_server: int = 2
    history_hours: float = 48.0  # data held before the failures (the quiet period)
    bucket_seconds: int = 60
    ack_timeout: float = 30.0  # logship: a copy not acknowledged is sent elsewhere
    dead_peer_timeout: float = 30.0  # logship: the wire's ping drops a silent peer (was 900 s: TCP)
    query_interval: float = 60.0  # logship: --archive-check-interval
    reship_mb_s: float = 50.0  # logship: rate of shipping buckets again (as Kafka's catch-up)
    delivery_timeout: float = 120.0  # Kafka producer delivery.timeout.ms
    reconnect: float = 5.0  # logship: tailer reconnects to a returning buck
    session_timeout: float = 9.0  # Kafka KRaft broker.session.timeout.ms
    election: float = 1.0  # Kafka: electing and propagating a new leader
    lag_time: float = 30.0  # Kafka replica.lag.time.max.ms
    replication_mb_s: float = 50.0  # Kafka: catch-up rate of a returning broker
    first_failure: tuple[float, float] = (300.0, 900.0)  # uniform, s
    simultaneous: float = 0.25  # probability both fail at once
    gap_mean: float = 1800.0  # s, exponential gap otherwise
    down_median: float = 1800.0  # s, lognormal downtime
    down_sigma: float = 1.0
    down_max: float = 12 * 3600.0
    disk_loss: float = 0.3  # probability a failure loses the server's disk
    settle: float = 600.0  # s simulated after everything is back and whole
    horizon: float = 36 * 3600.0  # s, a scenario's longest window


# -- calibration from logship's own encoders


def calibrate(batch_events: int, bucket_events: int) -> dict[str, float]:
    """
    Wire sizes of logship's messages, from real encoded sample events.

    @return: bytes per event of a batch frame, of an ack frame (per batch),
        of the whole-bucket upload and of the porter's read, and the
        record bytes per event.
    """
    encoder = LineEncoder(host=b"sim", tz=timezone.utc, source=1)
    start = 1795685820.0
    events = [
        encode(e)
        for at, line in enumerate(sample_lines(bucket_events, start=start, rate=1000.0, seed=7))
        for e in encoder.events(line, start, at * 200)
    ]
    seal = PREFIX_SIZE + SESSION_OVERHEAD
    batch = encode_message(Batch(1 << 40, "ack2", events[:batch_events]))
    ack = encode_message(Ack(1 << 40, batch_events))
    records = b"".join(encode_record(e) for e in events)
    put_bytes = 0
    for offset in range(0, len(records), MAX_CHUNK):
        chunk = records[offset : offset + MAX_CHUNK]
        last = offset + MAX_CHUNK >= len(records)
        put_bytes += seal + len(encode_message(
            BucketPut(1, 1795685820, 60, offset, chunk, last, bytes(32) if last else None)
        ))
    data_bytes = sum(
        seal + len(encode_message(BucketData(1, 1795685820, o, len(records), records[o : o + MAX_CHUNK])))
        for o in range(0, len(records), MAX_CHUNK)
    )
    payload = (len(batch) - 60) / batch_events  # compressed records, without the header
    return {
        "record_bytes_per_event": len(records) / len(events),
        "batch_frame_bytes_per_event": (len(batch) + seal) / batch_events,
        "batch_payload_bytes_per_event": payload,
        "ack_frame_bytes": len(ack) + seal,
        "upload_bytes_per_event": put_bytes / len(events),
        "porter_read_bytes_per_event": data_bytes / len(events),
        "events_measured": len(events),
    }


# -- scenarios


@dataclass
class Failure:
    """
    One server failure of a scenario.
    """

    server: int
    at: float
    down_for: float
    disk_lost: bool


def draw_scenario(rng: random.Random, n: int, p: Params) -> list[Failure]:
    """
    Two failures of two distinct servers, drawn from the stated distributions.
    """
    victims = rng.sample(range(n), 2)
    t1 = rng.uniform(*p.first_failure)
    gap = 0.0 if rng.random() < p.simultaneous else rng.expovariate(1 / p.gap_mean)
    failures = []
    for server, at in zip(victims, (t1, t1 + gap)):
        down = min(p.down_max, rng.lognormvariate(math.log(p.down_median), p.down_sigma))
        failures.append(Failure(server, at, down, rng.random() < p.disk_loss))
    return failures


@dataclass
class Result:
    """
    What one design did in one scenario.
    """

    events: float = 0.0  # events written in the window
    lost: float = 0.0
    unreadable: float = 0.0  # event-seconds not readable from any server
    unwritable: float = 0.0  # event-seconds between sending and the last ack needed
    messages: float = 0.0
    bytes: float = 0.0
    read_bytes: float = 0.0
    repair_bytes: float = 0.0  # copied between servers to restore copies
    resends: float = 0.0
    restore: float | None = None  # s from the last failure to full copies; None: not in the window


class Timeline:
    """
    The servers' states over a scenario.  A failure is a host dying without
    closing its connections: clients notice it after C{detect} seconds.
    """

    def __init__(self, n: int, failures: list[Failure], detect: float) -> None:
        self.n = n
        self.failures = failures
        self.detect = detect

    def up(self, s: int, t: float) -> bool:
        """
        Whether server C{s} is up at C{t}.
        """
        return not any(f.server == s and f.at <= t < f.at + f.down_for for f in self.failures)

    def connected(self, s: int, t: float, reconnect: float = 0.0) -> bool:
        """
        Whether the clients count server C{s} as there at C{t}: not yet
        noticed down, or back for C{reconnect} seconds.
        """
        return not any(
            f.server == s and f.at + self.detect <= t < f.at + f.down_for + reconnect
            for f in self.failures
        )

    def returns(self) -> float:
        """
        When the last failed server is back.
        """
        return max(f.at + f.down_for for f in self.failures)

    def came_back(self, t: float, tick: float) -> list[Failure]:
        """
        The failures whose server came back during the tick ending at C{t}.
        """
        return [f for f in self.failures if t - tick < f.at + f.down_for <= t]


Holdings = dict[frozenset[int], float]


def add(held: Holdings, key: frozenset[int], events: float) -> None:
    """
    Count C{events} held by the servers of C{key}.
    """
    held[key] = held.get(key, 0.0) + events


def rekey(held: Holdings, change) -> Holdings:  # type: ignore[no-untyped-def]
    """
    The same events with every holder set passed through C{change}.
    """
    out: Holdings = {}
    for key, events in held.items():
        add(out, frozenset(change(key)), events)
    return out


def dark(held: Holdings, line: Timeline, t: float) -> float:
    """
    Events none of whose holders is up (events held nowhere included).
    """
    return sum(v for k, v in held.items() if not any(line.up(s, t) for s in k))


# -- the masterless design


#: Masterless holdings: events by (the bucks that acknowledged their batch,
#: the buck that took their bucket's upload or -1 while none holds it).
Shipped = dict[tuple[frozenset[int], int], float]


@dataclass(eq=False)
class Chunk:
    """
    One tick's batch on its way: its events and where they are.
    """

    t: float
    events: float
    holders: set[int] = field(default_factory=set)
    waiting: dict[int, float] = field(default_factory=dict)  # server -> sent at
    tried: set[int] = field(default_factory=set)
    acked: bool = False


def run_masterless(n: int, failures: list[Failure], p: Params, cal: dict[str, float],
                   rng: random.Random) -> Result:
    """
    logship's delivery, shipping and re-shipping over one scenario.
    """
    r = Result()
    line = Timeline(n, failures, p.dead_peer_timeout)
    # Before: every pair equally likely, the shipped copy on any buck.
    held: Shipped = {}
    share = p.rate * p.history_hours * 3600 / (math.comb(n, 2) * n)
    for pair in combinations(range(n), 2):
        for z in range(n):
            held[(frozenset(pair), z)] = share
    pending: list[Chunk] = []
    unshipped: dict[int, list[Chunk]] = {}
    ship_at: dict[int, float] = {}
    # Uploads a buck came back without: asked at its next archive check
    # (server -> when it answers), then shipped again to another buck.
    asking: dict[int, float] = {}
    reship: dict[tuple[frozenset[int], int], float] = {}  # (holders, buck that lost it) -> events
    reship_rate = p.reship_mb_s * 1e6 / cal["record_bytes_per_event"]  # events/s
    batches = 1 / p.batch_events
    last_failure = max(f.at for f in failures)
    restored_at: float | None = None
    t = 0.0

    def rekey_held(change) -> None:  # type: ignore[no-untyped-def]
        nonlocal held
        out: Shipped = {}
        for key, events in held.items():
            k = change(key)
            out[k] = out.get(k, 0.0) + events
        held = out

    while t < p.horizon:
        e = p.rate * p.tick
        r.events += e
        chunk = Chunk(t, e)
        pending.append(chunk)
        bucket = int(t // p.bucket_seconds)
        if bucket not in unshipped:
            unshipped[bucket] = []
            ship_at[bucket] = (bucket + 2) * p.bucket_seconds + rng.uniform(0, p.bucket_seconds)
        unshipped[bucket].append(chunk)
        for f in line.came_back(t, p.tick):
            if f.disk_lost:  # back empty
                s = f.server
                rekey_held(lambda k: (k[0] - {s}, k[1]))
                waiting: dict[tuple[frozenset[int], int], float] = {}
                for (k, by), v in reship.items():
                    waiting[(k - {s}, by)] = waiting.get((k - {s}, by), 0.0) + v
                reship = waiting
                for chunks in unshipped.values():
                    for c in chunks:
                        c.holders.discard(s)
                # The tailer asks it at its next check (<= the interval
                # after it is connected again): it no longer has them.
                asking[s] = t + p.reconnect + rng.uniform(0, p.query_interval)
        connected = [s for s in range(n) if line.connected(s, t, p.reconnect)]
        for s, when in list(asking.items()):
            if when <= t and s in connected:
                del asking[s]
                for key in [k for k in held if k[1] == s]:
                    events = held.pop(key)
                    reship[(key[0], s)] = reship.get((key[0], s), 0.0) + events
                    held[(key[0], -1)] = held.get((key[0], -1), 0.0) + events
        # Shipping again, one upload at a time, at the upload rate.
        budget = reship_rate * p.tick
        for key in list(reship):
            holders, lost_by = key
            live = [s for s in connected if line.up(s, t)]
            others = [s for s in live if s != lost_by]
            if not live or budget <= 0:
                break
            z = rng.choice(others or live)
            events = min(budget, reship[key])
            budget -= events
            reship[key] -= events
            if reship[key] <= 0:
                del reship[key]
            held[(holders, -1)] -= events
            held[(holders, z)] = held.get((holders, z), 0.0) + events
            # Repair traffic (as the leader's catch-up): counted in
            # repair_bytes and messages, not in the write path's bytes.
            r.repair_bytes += events * cal["upload_bytes_per_event"]
            r.messages += events * cal["record_bytes_per_event"] / MAX_CHUNK + 1
        still = []
        for c in pending:
            for s, sent in list(c.waiting.items()):
                if t >= sent + p.ack_timeout or s not in connected:
                    del c.waiting[s]  # given up: sent elsewhere
                    r.resends += c.events * batches
            while len(c.holders) + len(c.waiting) < p.replicas:
                free = [s for s in connected if s not in c.holders and s not in c.waiting]
                if not free:
                    break
                untried = [s for s in free if s not in c.tried]
                s = rng.choice(untried or free)
                c.tried.add(s)
                r.messages += c.events * batches
                r.bytes += cal["batch_frame_bytes_per_event"] * c.events
                if line.up(s, t):  # written and acknowledged within the tick
                    c.holders.add(s)
                    r.messages += c.events * batches
                    r.bytes += cal["ack_frame_bytes"] * c.events * batches
                else:
                    c.waiting[s] = t
            if len(c.holders) >= p.replicas:
                c.acked = True
                r.unwritable += c.events * (t - c.t)
            else:
                still.append(c)
        pending = still
        # Whole buckets: once closed and settled, to one random connected buck.
        for b in [b for b, at in ship_at.items() if at <= t]:
            live = [s for s in connected if line.up(s, t)]
            if not all(c.acked for c in unshipped[b]) or not live:
                continue
            z = rng.choice(live)
            size = sum(c.events for c in unshipped[b])
            for c in unshipped.pop(b):
                key = (frozenset(c.holders), z)
                held[key] = held.get(key, 0.0) + c.events
            r.messages += math.ceil(size * cal["record_bytes_per_event"] / MAX_CHUNK) + 1
            r.bytes += size * cal["upload_bytes_per_event"] + cal["ack_frame_bytes"]
            del ship_at[b]
        # Reading: the porter reads bucks; events on no buck that is up
        # (only in a spool, waiting to be shipped again, included) are dark.
        on_way: Holdings = {}
        for chunks in unshipped.values():
            for c in chunks:
                add(on_way, frozenset(c.holders), c.events)
        r.unreadable += (dark(rekey_pairs(held), line, t) + dark(on_way, line, t)) * p.tick
        # Full copies: R bucks hold every event again (the spool is the third).
        if t >= line.returns() and not pending and not reship and restored_at is None and all(
            len(k) >= p.replicas for k, v in rekey_pairs(held).items() if v > 0
        ):
            restored_at = t
        if t >= line.returns() + p.settle and not pending and not reship and not asking and all(
            b * p.bucket_seconds >= line.returns() for b in unshipped
        ):
            break
        t += p.tick
    r.restore = None if restored_at is None else restored_at - last_failure
    # Lost: events no buck holds and no re-upload will restore (the spool
    # keeps a bucket until a receipt; a buck that cannot show one is asked
    # again, so only a horizon cut short leaves any).
    r.lost = held.get((frozenset(), -1), 0.0) - sum(
        v for (k, _), v in reship.items() if not k
    )
    flat = rekey_pairs(held)
    copies = sum(len(k) * v for k, v in flat.items()) / sum(flat.values())
    r.read_bytes = r.events * copies * cal["porter_read_bytes_per_event"]
    return r


def rekey_pairs(held: Shipped) -> Holdings:
    """
    The masterless holdings as the set of bucks holding each event.
    """
    out: Holdings = {}
    for (holders, z), events in held.items():
        add(out, holders | ({z} if z >= 0 else set()), events)
    return out


# -- the elected-leader design


@dataclass(eq=False)
class Partition:
    """
    One partition: its replicas, leader, ISR, what each replica holds, and
    what the producer holds for it.
    """

    replicas: list[int]
    leader: int | None
    isr: set[int]
    held: Holdings
    catching_up: dict[int, float] = field(default_factory=dict)  # replica -> caught up at
    queue: dict[float, float] = field(default_factory=dict)  # sent at -> events
    lost: float = 0.0


def run_leader(n: int, rf: int, failures: list[Failure], p: Params, cal: dict[str, float],
               rng: random.Random) -> Result:
    """
    A Kafka-like partitioned log over one scenario.
    """
    r = Result()
    line = Timeline(n, failures, p.session_timeout + p.election)
    count = n * p.partitions_per_server
    history = p.rate * p.history_hours * 3600 / count
    parts = []
    for i in range(count):
        reps = [(i + k) % n for k in range(rf)]
        parts.append(Partition(reps, reps[0], set(reps), {frozenset(reps): history}))
    event_bytes = cal["batch_payload_bytes_per_event"]
    record_bytes = event_bytes + KAFKA_RECORD_OVERHEAD
    per_broker = sum(1 for q in parts if 0 in q.replicas)
    last_failure = max(f.at for f in failures)
    pool: dict[float, float] = {}  # sent at -> events not given to a partition (yet, or again)
    restored_at: float | None = None
    t = 0.0
    while t < p.horizon:
        for part in parts:
            # A follower that stopped fetching leaves the ISR after the lag
            # time (the leader shrinks it: not without a leader).
            for s in list(part.isr):
                if part.leader is not None and s != part.leader and any(
                    f.server == s and f.at + p.lag_time <= t < f.at + f.down_for for f in failures
                ):
                    part.isr.discard(s)
            # The controller replaces a dead leader by a live ISR member.
            if part.leader is not None and not line.connected(part.leader, t):
                old = part.leader
                live = [s for s in part.replicas if s in part.isr and s != old and line.up(s, t)]
                part.leader = live[0] if live else None
                # Unclean election off: with no live ISR member the old
                # leader stays the only one eligible.
                part.isr = part.isr - {old} if live else {old}
                r.messages += n  # the new leadership goes to every broker
                r.bytes += n * KAFKA_REQUEST_OVERHEAD
        for f in line.came_back(t, p.tick):
            s = f.server
            for part in parts:
                if s not in part.replicas:
                    continue
                if f.disk_lost:
                    part.held = rekey(part.held, lambda k: k - {s})
                    gone = part.held.pop(frozenset(), 0.0)
                    part.lost += gone
                if part.leader is None and s in part.isr:
                    part.leader = s  # the last ISR member is back (empty if its disk was lost)
                    continue
                missing = sum(v for k, v in part.held.items() if s not in k)
                part.catching_up[s] = t + missing * event_bytes * per_broker / (p.replication_mb_s * 1e6)
                r.repair_bytes += missing * record_bytes
                r.messages += 2 * math.ceil(missing * record_bytes / MAX_CHUNK)
        for part in parts:
            for s, done in list(part.catching_up.items()):
                if t >= done and part.leader is not None and line.up(part.leader, t):
                    del part.catching_up[s]
                    part.isr.add(s)
                    part.held = rekey(part.held, lambda k: k | {s})
        # Writing: new events spread over partitions that have a leader; a
        # partition short of min.insync (or waiting for a dead ISR member)
        # keeps them, retried, up to the delivery timeout, then they are
        # sent again elsewhere.
        e = p.rate * p.tick
        r.events += e
        pool[t] = pool.get(t, 0.0) + e
        led = [q for q in parts if q.leader is not None and line.connected(q.leader, t)]
        if led:
            for sent, events in pool.items():
                for q in led:
                    q.queue[sent] = q.queue.get(sent, 0.0) + events / len(led)
            pool = {}
        brokers: set[int] = set()
        for part in parts:
            if not part.queue:
                continue
            leader = part.leader
            ok = (leader is not None and line.up(leader, t) and len(part.isr) >= p.min_insync
                  and all(line.up(s, t) for s in part.isr))
            if leader is not None:
                brokers.add(leader)
            if not ok:
                for sent in [x for x in part.queue if t - x >= p.delivery_timeout]:
                    pool[sent] = pool.get(sent, 0.0) + part.queue.pop(sent)
                continue
            events = sum(part.queue.values())
            headers = max(1.0, events / p.batch_events) * KAFKA_BATCH_HEADER
            r.bytes += len(part.isr) * (events * record_bytes + headers)  # to the leader, to each follower
            add(part.held, frozenset(part.isr), events)
            r.unwritable += sum(v * (t - sent) for sent, v in part.queue.items())
            part.queue = {}
        # A produce request and response per leader broker, and a fetch
        # request and response per follower broker and leader broker.
        fetches = {(q.leader, s) for q in parts if q.leader is not None for s in q.isr if s != q.leader}
        r.messages += 2 * (len(brokers) + len(fetches))
        r.bytes += (len(brokers) + len(fetches)) * (KAFKA_REQUEST_OVERHEAD + KAFKA_RESPONSE)
        # Reading: only through a live leader; events still at the producer are nowhere.
        night = sum(pool.values()) + sum(sum(q.queue.values()) for q in parts)
        for part in parts:
            if part.leader is None or not line.up(part.leader, t):
                night += sum(part.held.values())
        r.unreadable += night * p.tick
        if t >= line.returns() and restored_at is None and not pool and all(
            not q.queue and not q.catching_up and len(q.isr) >= rf for q in parts
        ):
            restored_at = t
        if t >= line.returns() + p.settle and (restored_at is not None or t >= p.horizon / 2):
            break
        t += p.tick
    r.restore = None if restored_at is None else restored_at - last_failure
    r.lost = sum(q.lost for q in parts)
    r.read_bytes = r.events * record_bytes
    return r


# -- the experiment


def summarize(results: list[Result]) -> dict[str, float]:
    """
    Figures over the scenarios of one design and server count.
    """
    events = sum(x.events for x in results)
    restores = [x.restore for x in results if x.restore is not None]
    return {
        "scenarios": len(results),
        "events": events,
        "lost_events_per_scenario": sum(x.lost for x in results) / len(results),
        "scenarios_with_loss": sum(1 for x in results if x.lost > 0),
        "unreadable_event_hours_per_scenario": sum(x.unreadable for x in results) / 3600 / len(results),
        "unacked_event_hours_per_scenario": sum(x.unwritable for x in results) / 3600 / len(results),
        "repair_gb_per_scenario": sum(x.repair_bytes for x in results) / 1e9 / len(results),
        "messages_per_1000_events": 1000 * sum(x.messages for x in results) / events,
        "write_bytes_per_event": sum(x.bytes for x in results) / events,
        "read_bytes_per_event": sum(x.read_bytes for x in results) / events,
        "restore_median_s": statistics.median(restores) if restores else float("nan"),
        "restore_p90_s": (sorted(restores)[int(0.9 * (len(restores) - 1))] if restores else float("nan")),
        "not_restored": len(results) - len(restores),
    }


def plot(rows: list[dict[str, object]], path: Path) -> None:
    """
    Loss, unavailability and cost per design against the server count.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    designs = sorted({str(r["design"]) for r in rows})
    panels = [
        ("lost_events_per_scenario", "events lost per scenario"),
        ("unreadable_event_hours_per_scenario", "unreadable event-hours per scenario"),
        ("unacked_event_hours_per_scenario", "not-yet-acked event-hours per scenario"),
        ("write_bytes_per_event", "wire bytes per event (write path)"),
        ("repair_gb_per_scenario", "GB copied to repair, per scenario"),
        ("restore_median_s", "median s to full copies"),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5))
    for ax, (key, title) in zip(axes.flat, panels):
        for design in designs:
            mine = [r for r in rows if r["design"] == design]
            ax.plot([r["servers"] for r in mine], [r[key] for r in mine], marker="o", label=design)
        ax.set_title(title)
        ax.set_xlabel("servers")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("Experiment 2: masterless R=2 vs elected leader, two failures per scenario")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few scenarios, seconds")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "experiments")
    parser.add_argument("--scenarios", type=int, help="scenarios per server count")
    parser.add_argument("--seed", type=int, default=Params.seed)
    parser.add_argument("--tick", type=float, default=Params.tick, help="seconds per step")
    args = parser.parse_args(argv)
    p = Params(seed=args.seed, tick=args.tick)
    if args.quick:
        p.scenarios, p.servers, p.down_median, p.down_max, p.history_hours = 3, [3, 4], 120.0, 600.0, 0.5
        p.gap_mean, p.first_failure, p.settle = 60.0, (30.0, 60.0), 120.0
    if args.scenarios:
        p.scenarios = args.scenarios
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.process_time()
    cal = calibrate(p.batch_events, 5000 if not args.quick else 1000)
    rows: list[dict[str, object]] = []
    for n in p.servers:
        drawn = [draw_scenario(random.Random(f"{p.seed}/{n}/{i}"), n, p) for i in range(p.scenarios)]
        runs: dict[str, list[Result]] = {"masterless R=2": []}
        for rf in p.leader_rf:
            runs[f"leader RF={rf}"] = []
        for i, failures in enumerate(drawn):
            runs["masterless R=2"].append(
                run_masterless(n, failures, p, cal, random.Random(f"{p.seed}/m/{n}/{i}")))
            for rf in p.leader_rf:
                runs[f"leader RF={rf}"].append(
                    run_leader(n, rf, failures, p, cal, random.Random(f"{p.seed}/l/{n}/{i}")))
        for design, results in runs.items():
            row: dict[str, object] = {"design": design, "servers": n, **summarize(results)}
            rows.append(row)
            say_row(row)
    write_outputs(args.out, "replication", {
        "params": asdict(p), "calibration": cal, "cpu_seconds": time.process_time() - started,
    }, rows)
    plot(rows, args.out / "replication.png")
    print(f"wrote {args.out}/replication.{{json,csv,png}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The tailer service: follow files, store events locally, deliver them to R bucks.

One poll tick, every C{poll_interval} seconds:

  1. Each followed file gives at most C{max_read} bytes of new lines
     (L{Follower.poll}); each line becomes events (L{LineEncoder}).
  2. The events are appended to the spool of the file's durability (local
     bucket files) and the spools are flushed (fsynced for C{ack2+fsync}).
  3. The pump hands chunks of undelivered records from the spools to the
     L{Delivery} engine, a bounded number of batches in flight; each
     delivered chunk (R acks) advances its spool's delivered offset.
  4. Only after the flush are the files' offsets, with their point
     sequencers' states, saved in the checkpoint, together with how far
     each spool file was delivered: a crash re-reads, never skips, and the
     re-read gives the same points, so the replays collapse downstream.
     (The pump goes first so that the checkpoint's fsync does not delay
     the batches.)

Disk is the buffer: when fewer than R bucks are reachable, reading goes on
into the spools and the pump waits; when the bucks come back, the backlog
drains oldest bucket first.  Memory stays bounded whatever the backlog (a
poll reads at most C{max_read} bytes per file; at most C{max_in_flight}
batches are held).

C{live} sources skip the spool: their events are sent at once to R bucks,
without acknowledgement, and lost if none is connected (docs/design.md: "live
(no ack, no disk)").

The syslog listeners (L{logship.tailer.syslog}) put their events into the
same spools through L{TailerService.store}, between ticks; they stop reading
while the undelivered backlog is over C{syslog_backlog} bytes, and each tick
resumes them once it is not.
"""

from __future__ import annotations

import fnmatch
import glob
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import tzinfo
from pathlib import Path
from typing import Any

from twisted.application.service import IService, MultiService
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IDelayedCall,
    IPushProducer,
    IReactorTime,
    IStreamClientEndpoint,
)
from twisted.logger import Logger
from zope.interface import implementer

from logship.core.event import Event, encode
from logship.core.ingest import LineEncoder
from logship.core.multiline import Joined, Joiner, MultilineRules
from logship.plumbing.periodic import never_fails, periodic
from logship.core.points import PointSequencer, SequencerState
from logship.tailer.checkpoint import (
    CheckpointError,
    discard_temporaries,
    load_checkpoint,
    save_checkpoint,
)
from logship.tailer.delivery import Delivery
from logship.tailer.follow import Follower
from logship.tailer.followstate import FollowState
from logship.tailer.reread import spooled_since
from logship.tailer.shipper import Shipper
from logship.tailer.spool import Spool
from logship.tailer.syslog import ISyslogSink, StreamNumbers, SyslogListen
from logship.core.credentials import Credentials
from logship.core.revocation import DEFAULT_INTERVAL, RevocationFile
from logship.wire.credentialwatch import CredentialWatch
from logship.wire.messages import (
    Ack,
    ArchivedReply,
    BatchRefused,
    BucketAck,
    Durability,
    Message,
)
from logship.wire.protocol import (
    CloseReason,
    IPeerConnection,
    IWireHandler,
    WireFactory,
    buck_client,
    buck_factory,
)

CHECKPOINT = "tailer.json"
_SEQUENCER = "points"
_SOURCE = "source"


@dataclass(frozen=True)
class Source:
    """
    A configured file or glob and the durability of its events.

    @ivar multiline: how its lines are joined into events (C{None}: one
        event per line).
    @ivar format: the format hint of its lines, if any (passed to the
        L{LineEncoder}).
    """

    pattern: str
    durability: Durability
    multiline: MultilineRules | None = None
    format: str | None = None


def _source_of(path: str, sources: list[Source]) -> Source | None:
    """
    The first of C{sources} naming C{path} (as its pattern, or matching
    its glob), if any.
    """
    for source in sources:
        if path == source.pattern or (
            glob.has_magic(source.pattern) and fnmatch.fnmatchcase(path, source.pattern)
        ):
            return source
    return None


@dataclass
class _Followed:
    """
    One file being followed.

    @ivar rules: its multi-line rules (C{None}: one event per line).
    @ivar joiner: the joiner of its lines by C{rules}, once a line was read
        with rules (it holds the lines of the event being joined).
    """

    follower: Follower
    encoder: LineEncoder
    durability: Durability
    source: int
    rules: MultilineRules | None = None
    joiner: Joiner | None = None


@implementer(IWireHandler)
class _BuckLink:
    """
    The wire handler of the connection to one buck: tells the delivery
    engine when it comes and goes and what it acknowledges.
    """

    _log = Logger()

    def __init__(self, name: str, delivery: Delivery, shipper: Shipper) -> None:
        self.name = name
        self._delivery = delivery
        self._shipper = shipper

    def connected(self, peer: IPeerConnection) -> None:
        self._log.info("Connected to buck {buck} ({node})", buck=self.name, node=peer.peer_node)
        self._delivery.connected(self.name, peer)
        self._shipper.connected(self.name, peer)

    def message_received(self, peer: IPeerConnection, message: Message) -> None:
        if isinstance(message, Ack):
            self._delivery.acked(self.name, message.batch_id)
        elif isinstance(message, BatchRefused):
            self._delivery.refused(self.name, message.batch_id, message.reason)
        elif isinstance(message, BucketAck):
            self._shipper.bucket_acked(self.name, message)
        elif isinstance(message, ArchivedReply):
            self._shipper.archived_reply(self.name, message)

    def disconnected(self, peer: IPeerConnection, reason: CloseReason) -> None:
        self._log.info("Lost buck {buck}: {reason}", buck=self.name, reason=str(reason))
        self._delivery.disconnected(self.name)
        self._shipper.disconnected(self.name)


@implementer(ISyslogSink)
class TailerService(MultiService):
    """
    Follows the configured files and delivers their events to the bucks.
    """

    _log = Logger()

    def __init__(
        self,
        *,
        sources: list[Source],
        state_dir: Path,
        bucks: dict[str, IStreamClientEndpoint],
        key: bytes | None,
        node: str,
        host: bytes,
        tz: tzinfo,
        clock: IReactorTime,
        replicas: int = 2,
        bucket_seconds: int = 60,
        poll_interval: float = 0.25,
        ack_timeout: float = 30.0,
        max_in_flight: int = 8,
        batch_events: int = 1000,
        rescan_interval: float = 2.0,
        stats_interval: float = 60.0,
        archive_check_interval: float = 60.0,
        keep_seconds: float = 7 * 86400,
        keep_bytes: int = 10 << 30,
        drain_timeout: float = 5.0,
        rng: random.Random | None = None,
        credentials: Credentials | None = None,
        revocations: RevocationFile | None = None,
        revocation_interval: float = DEFAULT_INTERVAL,
        syslog: Sequence[SyslogListen] = (),
        syslog_backlog: int = 256 << 20,
    ) -> None:
        """
        @param bucks: the bucks to keep connections to, by name.
        @param key: the cluster key, or C{None} for an insecure lab.
        @param host: the host name of lines that do not name one.
        @param clock: the reactor's time: its C{seconds()} is the wall
            clock (lines without a timestamp, bucket ages), and it runs
            the timers.
        @param drain_timeout: seconds a stop waits for batches in flight.
        @param rng: where random choices come from (bucks to send to,
            delays, the source tags of newly followed paths).
        @param archive_check_interval: seconds between two questions to the
            bucks about archived buckets (L{Shipper}).
        @param credentials: the tailer's identity and trust (credential
            mode; then C{key} is C{None}): the bucks must prove buck
            credentials, and archive receipts must be signed by a trusted
            porter.
        @param revocations: the revocation list file feeding
            C{credentials.trust}, reloaded when it changes.
        @param revocation_interval: seconds between two looks at it (and
            at the bucks' credentials).
        @param syslog: the syslog listeners (their services are added by
            the tap: L{logship.tailer.syslog.syslog_services}).
        @param syslog_backlog: undelivered bytes beyond which the syslog
            listeners stop reading.
        """
        super().__init__()
        self._sources = sources
        self._node = node
        self._state_dir = state_dir
        self._host = host
        self._tz = tz
        self._clock = clock
        self._max_in_flight = max_in_flight
        self._batch_events = batch_events
        self._rescan_interval = rescan_interval
        self._poll_interval = poll_interval
        self._bucket_seconds = bucket_seconds
        self._last_scan = float("-inf")
        self._rng = random.Random() if rng is None else rng
        self.delivery = Delivery(
            replicas=replicas, clock=clock, ack_timeout=ack_timeout, rng=rng
        )
        self.spools: dict[Durability, Spool] = {
            durability: self._new_spool(durability)
            for durability in sorted(
                ({s.durability for s in sources} | {listen.durability for listen in syslog})
                - {"live"}
            )
        }
        self.shipper = Shipper(
            spools=list(self.spools.values()),
            bucket_seconds=bucket_seconds,
            clock=clock,
            keep_seconds=keep_seconds,
            keep_bytes=keep_bytes,
            query_interval=archive_check_interval,
            rng=rng,
            on_change=self._changed,
            trust=None if credentials is None else credentials.trust,
        )
        self._files: dict[str, _Followed] = {}
        self._saved_files: dict[str, Any] = {}
        # origins stored after the checkpoint, not read again yet
        self._reread: set[bytes] = set()
        self._dirty = False
        self._last_save = float("-inf")
        self._again: IDelayedCall | None = None
        self._stopping = False
        self._drained: Deferred[None] | None = None
        self._drain_timer: IDelayedCall | None = None
        self._drain_timeout = drain_timeout
        self._syslog_keys = [listen.endpoint for listen in syslog]
        self._streams: dict[str, StreamNumbers] = {}
        self._syslog_backlog = syslog_backlog
        self._paused: set[IPushProducer] = set()
        self.lines_read = 0
        self.events_stored = 0
        self.events_sent = 0  # handed to the delivery (live ones too)
        self.events_acked = 0  # delivered: acknowledged by enough bucks
        self._key = key
        self._credentials = credentials
        # per buck name: its wire factory, and the service keeping its
        # connection (reconfigure adds and removes them)
        self._factories: dict[str, WireFactory] = {}
        self._clients: dict[str, IService] = {}
        # followed files no longer configured: dropped once read to the end
        self._leaving: set[str] = set()
        for name, endpoint in bucks.items():
            self._add_buck(name, endpoint)
        self._watch: CredentialWatch | None = None
        if credentials is not None:
            self._watch = CredentialWatch(revocations, self._factories.values())
            self._watch.service(clock, revocation_interval).setServiceParent(self)
        self._tick_safely = never_fails(self.tick, self._log)
        for interval, job in (
            (poll_interval, self.tick),
            (stats_interval, self._log_stats),
            (1.0, self.shipper.tick),
            (10.0, self._close_idle),
        ):
            periodic(interval, job, clock, self._log).setServiceParent(self)

    @property
    def checkpoint_path(self) -> Path:
        """
        Where the offsets and delivery cursors are saved.
        """
        return self._state_dir / CHECKPOINT

    def _new_spool(self, durability: Durability) -> Spool:
        """
        The spool of the files of C{durability} (not restored yet).
        """
        return Spool(
            self._state_dir / "spool" / durability,
            self._bucket_seconds,
            sync=durability == "ack2+fsync",
        )

    def _add_buck(self, name: str, endpoint: IStreamClientEndpoint) -> None:
        """
        Keep a connection to buck C{name} (started at once if the tailer runs).
        """
        factory = buck_factory(
            key=self._key,
            node=self._node,
            role="tailer",
            handler=_BuckLink(name, self.delivery, self.shipper),
            clock=self._clock,
            credentials=self._credentials,
        )
        self._factories[name] = factory
        self._clients[name] = buck_client(endpoint, factory, self._clock)
        self._clients[name].setServiceParent(self)

    def reconfigure(
        self,
        *,
        sources: list[Source],
        bucks: dict[str, IStreamClientEndpoint],
        replicas: int,
    ) -> None:
        """
        Take new settings (a reload, L{logship.tailer.reload}) without losing
        a line: files newly matched are followed from the next tick on
        (from their saved offset if they were followed before); a followed
        file no longer matched is read to its end, stored, and only then
        dropped (its offset stays in the checkpoint); a file's new
        durability applies to the lines read from now on (what its old
        spool holds is still delivered); bucks no longer named are
        disconnected (their unacknowledged copies go to the others), new
        ones connected; the revocation list is looked at now.  New
        multi-line rules apply from the next tick: the event being joined
        by the old rules is emitted first.  (A new format hint applies to
        files followed from now on.)

        @param sources: the files and globs to follow, with durabilities.
        @param bucks: the bucks to keep connections to, by name (those
            already connected keep their connection).
        @param replicas: R, for the batches sent from now on.
        """
        self._sources = sources
        self.delivery.replicas = replicas
        for durability in {s.durability for s in sources} - {"live"} - set(self.spools):
            spool = self._new_spool(durability)
            spool.restore(None)
            self.spools[durability] = spool
            self.shipper.add_spool(spool)
        for path, followed in self._files.items():
            source = _source_of(path, sources)
            if source is None:
                self._leaving.add(path)
            else:
                self._leaving.discard(path)
                if followed.durability != source.durability:
                    self._log.info(
                        "{path}: durability {old} -> {new}",
                        path=path,
                        old=followed.durability,
                        new=source.durability,
                    )
                    followed.durability = source.durability
                if followed.rules != source.multiline:
                    self._log.info("{path}: new multi-line rules", path=path)
                    followed.rules = source.multiline
        for name in sorted(set(self._clients) - set(bucks)):
            self._log.info("Buck {buck} no longer configured: disconnecting", buck=name)
            del self._factories[name]
            self._clients.pop(name).disownServiceParent()
            self.delivery.disconnected(name)
            self.shipper.disconnected(name)
        for name in sorted(set(bucks) - set(self._clients)):
            self._log.info("Buck {buck} configured: connecting", buck=name)
            self._add_buck(name, bucks[name])
        self._last_scan = float("-inf")  # look for the new files at the next tick
        if self._watch is not None:
            self._watch.check()

    def startService(self) -> None:
        self._state_dir.mkdir(parents=True, exist_ok=True)
        self._restore()
        super().startService()

    def stopService(self) -> Deferred[None]:
        """
        Stop reading and sending, wait up to C{drain_timeout} seconds for
        the batches on their way to be acknowledged (so that a routine
        restart does not send them again), then save the checkpoint and
        close the files.
        """
        self._stopping = True
        if self._again is not None:
            self._again.cancel()
            self._again = None
        drained: Deferred[None] = Deferred()
        if self.delivery.in_flight == 0:
            drained.callback(None)
        else:
            self._drained = drained
            self._drain_timer = self._clock.callLater(self._drain_timeout, self._drain_done)
        drained.addCallback(lambda _: MultiService.stopService(self))
        drained.addCallback(self._close)
        return drained

    def _drain_done(self) -> None:
        """
        The batches in flight were delivered, or the wait for them is over.
        """
        timer, self._drain_timer = self._drain_timer, None
        if timer is not None and timer.active():
            timer.cancel()
        drained, self._drained = self._drained, None
        if drained is not None:
            drained.callback(None)

    def _close(self, _: object) -> None:
        self.delivery.stop()
        self.shipper.stop()
        self._save()
        for followed in self._files.values():
            followed.follower.close()
        for spool in self.spools.values():
            spool.close()

    def _restore(self) -> None:
        """
        Read the checkpoint; a corrupt one is moved aside and everything is
        read again from the start (duplicates are allowed, loss is not).
        """
        discard_temporaries(self.checkpoint_path)
        try:
            state = load_checkpoint(self.checkpoint_path) or {}
        except CheckpointError as e:
            aside = self.checkpoint_path.with_suffix(".corrupt")
            self.checkpoint_path.rename(aside)
            self._log.error(
                "Checkpoint unreadable ({error}); moved to {aside}, re-reading all files",
                error=str(e),
                aside=str(aside),
            )
            state = {}
        self._saved_files = state.get("files", {})
        for durability, spool in self.spools.items():
            spool.restore(state.get("spools", {}).get(durability))
        self.shipper.restore(state.get("shipped"))
        saved_streams = state.get("syslog", {})
        for key in self._syslog_keys:
            self._streams[key] = StreamNumbers.from_json(saved_streams.get(key), self._rng)
        if state:
            self._reread = spooled_since(
                [spool.root for spool in self.spools.values()],
                self.checkpoint_path.stat().st_mtime,
                self._saved_positions(),
            )
        if self._reread:
            self._log.info(
                "{count} events were stored after the checkpoint: the lines read"
                " again with them are not stored twice",
                count=len(self._reread),
            )

    def _saved_positions(self) -> dict[int, tuple[int, int]]:
        """
        The position the checkpoint saved for each source tag: C{(file
        number, offset)}.
        """
        positions = {}
        for saved in self._saved_files.values():
            try:
                state = FollowState.from_json(saved)
            except ValueError:
                continue  # _follow says so when it meets the path
            source = state.extra.get(_SOURCE)
            if isinstance(source, int):
                positions[source] = (state.file, state.offset)
        return positions

    def _save(self) -> None:
        files = dict(self._saved_files)
        for path, followed in self._files.items():
            files[path] = self._followed_state(followed)
        save_checkpoint(
            self.checkpoint_path,
            {
                "version": 1,
                "files": files,
                "spools": {d: spool.state() for d, spool in self.spools.items()},
                "shipped": self.shipper.state(),
                "syslog": {key: numbers.to_json() for key, numbers in self._streams.items()},
            },
        )
        self._dirty = False
        self._last_save = self._clock.seconds()

    @staticmethod
    def _followed_state(followed: _Followed) -> Any:
        """
        What the checkpoint saves of a followed file: never an offset past
        the lines of an event still being joined (they are read again
        after a restart, and their event gets the same origin).
        """
        followed.follower.set_extra(
            {
                _SEQUENCER: list(followed.encoder.points.state().as_tuple()),
                _SOURCE: followed.source,
            }
        )
        state = followed.follower.state
        held = None if followed.joiner is None else followed.joiner.held
        if held is not None:
            # The tick emits what is held when the follower moves to
            # another file: what is held is in the state's file.
            assert held[0] == state.file, (held, state.file)
            state = replace(state, offset=held[1])
        return state.to_json()

    def _scan(self) -> None:
        """
        Start following files that newly match a configured pattern.
        """
        for source in self._sources:
            matches = glob.glob(source.pattern) if glob.has_magic(source.pattern) else [source.pattern]
            for path in matches:
                if path not in self._files:
                    self._follow(path, source)

    def _follow(self, path: str, configured: Source) -> None:
        """
        Start following C{path}, from its saved state if there is one.

        The file is opened now (L{Follower.start}), not at the first read:
        lines written before a rotation that comes first are read from the
        rotated file.  A path followed for the first time (or saved before source tags
        existed) gets a random source tag, saved at once: every line read
        from it is then identified the same way after a crash.
        """
        saved = self._saved_files.get(path)
        state = None if saved is None else FollowState.from_json(saved)
        extra = {} if state is None else state.extra
        points = None
        if _SEQUENCER in extra:
            points = PointSequencer.from_state(SequencerState.from_tuple(extra[_SEQUENCER]))
        source = extra.get(_SOURCE)
        new_source = not (isinstance(source, int) and 0 <= source < 1 << 32)
        if not isinstance(source, int) or new_source:
            source = self._rng.getrandbits(32)
        follower = Follower(path, state)
        follower.start()
        self._files[path] = _Followed(
            follower,
            LineEncoder(
                host=self._host, tz=self._tz, source=source, points=points, hint=configured.format
            ),
            configured.durability,
            source,
            configured.multiline,
        )
        self._log.info(
            "Following {path} ({durability})", path=path, durability=configured.durability
        )
        if new_source:
            self._save()

    def _unfollow(self, path: str) -> None:
        """
        Stop following C{path}, read to its end and stored: its state stays
        in the checkpoint (followed again, it goes on from there).
        """
        self._leaving.discard(path)
        followed = self._files.pop(path)
        self._saved_files[path] = self._followed_state(followed)
        followed.follower.close()
        self._dirty = True
        self._log.info("No longer following {path}", path=path)

    def _close_idle(self) -> None:
        """
        Close the writers of local buckets that no longer get lines.
        """
        for spool in self.spools.values():
            spool.close_idle(self._clock.seconds(), idle=2 * self._bucket_seconds)

    def _changed(self) -> None:
        """
        Something to checkpoint changed; the next tick saves it.
        """
        self._dirty = True

    def tick(self) -> None:
        """
        Read, store, deliver, checkpoint (see the module docstring).
        """
        if self._stopping:
            return
        if self._paused and not self.backlogged():
            paused, self._paused = self._paused, set()
            for producer in paused:
                producer.resumeProducing()
        if self._clock.seconds() - self._last_scan >= self._rescan_interval:
            self._last_scan = self._clock.seconds()
            self._scan()
        now = self._clock.seconds()
        more = read = False
        finished = []
        for path, followed in self._files.items():
            result = followed.follower.poll()
            more = more or result.more
            leaving = path in self._leaving and not result.more
            if leaving:
                finished.append(path)
            if followed.rules is None and followed.joiner is None:
                if not result.lines:
                    continue
                events = self._events(followed.encoder, result.lines, now)
            else:
                events = self._joined_events(followed, result.lines, result.state.file, now, leaving)
                if not result.lines and not events:
                    continue
            read = True
            self.lines_read += sum(1 for line in result.lines if line.ended)
            if followed.durability == "live":
                self._send_live(events)
            else:
                self.spools[followed.durability].append(events)
                self.events_stored += len(events)
        if read:
            for spool in self.spools.values():
                spool.flush()
            self._dirty = True
        for path in finished:
            self._unfollow(path)
        # Send first: the checkpoint's fsync would delay the batches (the
        # live view's latency), and a batch sent before the save is safe (a
        # crash re-reads the same events, with the same points).
        self._pump()
        # The offsets in memory are those of flushed lines, so a save may
        # wait; saving at most once a poll interval bounds the fsyncs.
        if self._dirty and self._clock.seconds() - self._last_save >= self._poll_interval:
            self._save()
        if more and self._again is None:
            # A file had more than one poll's worth: read on after the
            # reactor has had a turn (acks, connections).
            self._again = self._clock.callLater(0, self._tick_again)

    def _tick_again(self) -> None:
        self._again = None
        self._tick_safely()

    def _events(self, encoder: LineEncoder, lines: Iterable[Any], now: float) -> list[Event]:
        events: list[Event] = []
        for line in lines:
            data = line.data
            if line.ended and data.endswith(b"\r"):
                data = data[:-1]
            events += encoder.events(data, now, line.offset, file=line.file, ended=line.ended)
        if self._reread:
            events = self._not_stored(events)
        return events

    def _joined_events(
        self,
        followed: _Followed,
        lines: Sequence[Any],
        file: int,
        now: float,
        leaving: bool,
    ) -> list[Event]:
        """
        The events of a file with multi-line rules (or whose rules were
        just removed): its lines joined (L{Joiner}), the event held emitted
        when the follower moved to another file (C{file} is the number of
        the file it is in now), at the rules' timeout, when the file is
        left, or when the rules change.
        """
        joiner = followed.joiner
        groups: list[Joined] = []
        if joiner is not None and joiner.rules != followed.rules:
            groups += joiner.flush()
            joiner = followed.joiner = None
        if joiner is None and followed.rules is not None:
            joiner = followed.joiner = Joiner(followed.rules)
        for line in lines:
            data = line.data
            if line.ended and data.endswith(b"\r"):
                data = data[:-1]
            if joiner is None:
                groups.append(Joined(data, line.offset, line.file, None, line.ended))
            else:
                groups += joiner.feed(data, line.offset, line.file, ended=line.ended, now=now)
        if joiner is not None:
            held = joiner.held
            if held is not None and (held[0] != file or leaving or joiner.idle(now)):
                groups += joiner.flush()
        encode_events = followed.encoder.events
        events: list[Event] = []
        for group in groups:
            events += encode_events(
                group.data, now, group.offset, file=group.file, ended=group.ended, first=group.first
            )
        if self._reread:
            events = self._not_stored(events)
        return events

    def _not_stored(self, events: list[Event]) -> list[Event]:
        """
        The events not stored before a crash (L{logship.tailer.reread}):
        those of lines read again are dropped (each once).  Compared by
        identity (origin, crc, host): an event joined of more lines after
        the restart than before (its timeout cut it before the crash, and
        more lines came) is another event, stored too, so no line is lost.
        """
        reread = self._reread
        kept = []
        for event in events:
            identity = event.identity
            if identity in reread:
                reread.discard(identity)
            else:
                kept.append(event)
        return kept

    def _send_live(self, events: list[Event]) -> None:
        self.events_sent += len(events)
        for start in range(0, len(events), self._batch_events):
            self.delivery.send([encode(e) for e in events[start : start + self._batch_events]], "live")

    def open_stream(self, key: str) -> tuple[int, int]:
        """
        Number a new stream of syslog listener C{key} (L{ISyslogSink}),
        saved at once: no later stream gets its origins.
        """
        numbered = self._streams[key].next(self._rng)
        self._save()
        return numbered

    def store(self, events: list[Event], durability: Durability, lines: int) -> None:
        """
        Append a syslog listener's events to the spool of C{durability}
        and flush it (L{ISyslogSink}); C{live} ones are sent at once.
        """
        self.lines_read += lines
        if durability == "live":
            self._send_live(events)
            return
        spool = self.spools[durability]
        spool.append(events)
        spool.flush()
        self.events_stored += len(events)
        self._dirty = True
        if not self._stopping:
            self._pump()

    def backlogged(self) -> bool:
        """
        Whether the syslog listeners should stop reading: the service
        stops, or more than C{syslog_backlog} bytes are undelivered.
        """
        return self._stopping or (
            sum(s.undelivered_bytes() for s in self.spools.values()) > self._syslog_backlog
        )

    def wait_for_room(self, producer: IPushProducer) -> None:
        """
        Resume C{producer}, paused, at the first tick that finds room.
        """
        self._paused.add(producer)

    def forget(self, producer: IPushProducer) -> None:
        """
        C{producer} went away.
        """
        self._paused.discard(producer)

    def _pump(self) -> None:
        """
        Hand undelivered chunks to the delivery engine, up to the window.
        """
        while self.delivery.in_flight < self._max_in_flight:
            for durability, spool in self.spools.items():
                chunk = spool.next_chunk(max_events=self._batch_events)
                if chunk is not None:
                    break
            else:
                return
            d = self.delivery.send(chunk.events, durability)
            self.events_sent += len(chunk.events)
            d.addCallback(self._delivered, spool, chunk)

    def _delivered(self, _: None, spool: Spool, chunk: Any) -> None:
        spool.delivered(chunk)
        self.events_acked += len(chunk.events)
        self._changed()
        if not self._stopping:
            self._pump()
        elif self.delivery.in_flight == 0:
            self._drain_done()

    def _log_stats(self) -> None:
        stats = self.stats()
        self._log.info(
            "Tailer {node}: {lines_read} lines read, {events_stored} events stored,"
            " {undelivered_bytes} bytes undelivered, {in_flight} batches in flight,"
            " bucks connected: {connected}",
            node=self._node,
            connected=len(stats["bucks"]),
            **stats,
        )

    def stats(self) -> dict[str, Any]:
        """
        Counters for logs, metrics and tests.
        """
        return {
            "lines_read": self.lines_read,
            "events_stored": self.events_stored,
            "undelivered_bytes": sum(s.undelivered_bytes() for s in self.spools.values()),
            "bucks": self.delivery.bucks,
            "in_flight": self.delivery.in_flight,
            "delivery": vars(self.delivery.stats),
            "shipping": vars(self.shipper.stats),
        }

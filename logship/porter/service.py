"""The porter: buckets from every buck into the recent index and the archive.

L{PorterService} keeps a connection to every buck (a C{ClientService}
each, with a L{BuckLink} as the wire handler) and runs one I{round} every
C{interval} seconds (never two at once).  A round:

  1. asks every connected buck for its bucket files and their sizes;
  2. for each bucket closed at least one interval ago (its end plus one
     interval is past) and younger than the recent index's retention, reads
     from each buck the bytes of its file not loaded yet, decodes them and
     loads them into the recent index (loads are idempotent: documents are
     keyed by identity), then records how far it got per buck, with the
     last record loaded; a file whose bytes before that offset are no
     longer that record (or that is shorter) is another file of the same
     bucket (the buck deleted the old one, lost its disk, cut a torn tail)
     and is loaded again from its start, as is every file once per
     connection to its buck (C{docs/porter.md}, "A file replaced");
  3. for each bucket older than the quiet period whose files are not all in
     the archive (never archived, or a file grew since): reads every buck's
     whole file and the archived object (if any), merges them (one event
     per identity, sorted by point), packs the result, stores it, reads it
     back and verifies it (the archive does), records it in the manifest
     (the porter's state, then the archive's C{manifest/} object of that
     hour), and only then tells each buck which size of its file the
     archive holds, with a receipt naming that size, the SHA-256 of the
     bytes read and the archive object's digest, signed with the porter's
     node key in credential mode (L{logship.core.receipts}), so that the
     buck may delete the file if it is still exactly that;
  4. drops what is older than the retention from the recent index, and
     expired history indexes.

A buck that is down or fails a request is skipped for this round; its files
are loaded (and archived again if needed) when it is back.  Every step is
idempotent and recorded only once done, so a porter killed at any moment
converges to the same index and archive when restarted.

History indexes (L{PorterService.request_history}) are loaded by one job at
a time, from the archived objects and the buckets still on the bucks.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, ensureDeferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure

from logship.archive import IArchive
from logship.core.bucket import bucket_relpath, bucket_start, encode_record
from logship.core.credentials import Credentials
from logship.core.revocation import DEFAULT_INTERVAL, RevocationFile
from logship.core.event import Event
from logship.core.receipts import ArchiveReceipt, sign_receipt
from logship.index import IIndex
from logship.core.pack import pack, unpack
from logship.core.parse import TICKS_PER_SECOND
from logship.plumbing.periodic import periodic
from logship.porter.bucks import BuckLink, BuckUnavailable
from logship.core.event import Decoded, decode_all
from logship.porter.merge import merge, split_records
from logship.porter.state import HistoryJob, JobState, LoadedTail, ManifestEntry, PorterState
from logship.wire.credentialwatch import CredentialWatch
from logship.wire.protocol import buck_client, buck_factory

#: Seconds a bucket must be quiet before it is archived (docs/design.md: 48 h).
DEFAULT_QUIET = 48 * 3600
#: Days the recent index keeps.
DEFAULT_RECENT_DAYS = 14.0
#: Hours a history index lives.
DEFAULT_HISTORY_HOURS = 24.0
#: Bytes read from a buck per step while loading (bounds the memory).
LOAD_STEP = 4 << 20


def archive_key(start: int, seconds: int) -> str:
    """
    The archive key of the bucket starting at C{start}:
    C{buckets/YYYY/MM/DD/HH/MM.lsp} (C{MM-SS.lsp} below a minute).
    """
    relpath = bucket_relpath(start, seconds)
    return "buckets/" + relpath.rsplit(".", 1)[0] + ".lsp"


def manifest_key(start: int) -> str:
    """
    The key of the manifest object of the hour holding C{start}:
    C{manifest/YYYY/MM/DD/HH.json}.
    """
    return "manifest/" + time.strftime("%Y/%m/%d/%H", time.gmtime(start)) + ".json"


@dataclass
class PorterStats:
    """
    What the porter did since it started.

    @ivar rounds: rounds finished.
    @ivar round_errors: rounds that stopped on an unexpected error.
    @ivar loaded_bytes: bucket bytes read and loaded into the recent index.
    @ivar loaded_events: events loaded (with replicas: not distinct events).
    @ivar reloaded_copies: buck files loaded again from their start because
        they were not the file loaded before (L{PorterService._replaced}).
    @ivar corrupt_events: events that did not decode (damage on a buck).
    @ivar archived_buckets: buckets archived (again, for changed ones).
    @ivar archived_events: events in those archives.
    @ivar deleted_copies: buck files deleted after an archive.
    @ivar kept_copies: buck files kept because they grew since.
    @ivar buck_failures: requests to a buck that failed.
    """

    rounds: int = 0
    round_errors: int = 0
    loaded_bytes: int = 0
    loaded_events: int = 0
    reloaded_copies: int = 0
    corrupt_events: int = 0
    archived_buckets: int = 0
    archived_events: int = 0
    deleted_copies: int = 0
    kept_copies: int = 0
    buck_failures: int = 0


class PorterService(MultiService):
    """
    The porter (see the module docstring).

    @ivar links: the L{BuckLink} of each buck, by name.
    @ivar state: the porter's L{PorterState}.
    @ivar stats: its L{PorterStats}.
    """

    _log = Logger()

    def __init__(
        self,
        *,
        bucks: dict[str, IStreamClientEndpoint],
        key: bytes | None,
        node: str,
        index: IIndex,
        archive: IArchive,
        open_index: Callable[[str], IIndex],
        state_dir: Path,
        clock: IReactorTime,
        bucket_seconds: int = 60,
        quiet: float = DEFAULT_QUIET,
        interval: float = 10.0,
        recent_days: float = DEFAULT_RECENT_DAYS,
        request_timeout: float = 60.0,
        first_round: float = 0.0,
        blocking: Callable[..., Deferred[Any]] = maybeDeferred,
        credentials: Credentials | None = None,
        revocations: RevocationFile | None = None,
        revocation_interval: float = DEFAULT_INTERVAL,
    ) -> None:
        """
        @param bucks: the bucks to pull from, by name.
        @param key: the cluster key, or C{None} for an insecure lab.
        @param index: the recent index (closed when the service stops).
        @param archive: the archive (closed when the service stops).
        @param open_index: opens an index by name (for history indexes).
        @param state_dir: where L{PorterState} lives.
        @param clock: the reactor's time: its C{seconds()} is the wall
            clock (bucket ages, retention), and it runs the timers.
        @param quiet: seconds after a bucket's end before it is archived.
        @param interval: seconds between two rounds.
        @param recent_days: what the recent index keeps.
        @param request_timeout: seconds a buck may take to answer.
        @param first_round: seconds from the start to the first round (0:
            at once); then one every C{interval} seconds.  Tests that run
            the rounds themselves put it out of reach.
        @param blocking: runs CPU-heavy work (decoding, merging, packing a
            bucket) and returns a Deferred of its result: C{maybeDeferred}
            (the default) runs it at once; the tap gives a thread pool, so
            that the API still answers meanwhile.
        @param credentials: the porter's identity and trust (credential
            mode: the bucks must prove buck credentials, and receipts are
            signed with its node key).
        @param revocations: the revocation list file feeding
            C{credentials.trust}, reloaded when it changes.
        @param revocation_interval: seconds between two looks at it (and
            at the bucks' credentials).
        """
        super().__init__()
        self.state = PorterState(state_dir)
        self.stats = PorterStats()
        self._index = index
        self._archive = archive
        self._open_index = open_index
        self._node = node
        self._identity = None if credentials is None else credentials.identity
        self._clock = clock
        self._seconds = bucket_seconds
        self._quiet = quiet
        self._recent_seconds = recent_days * 86400
        self._blocking = blocking
        self._running: Deferred[None] | None = None
        self._history_queue: list[str] = []
        self._history: Deferred[None] | None = None
        self._manifest_checked = False
        #: The time up to which the recent index held every closed bucket
        #: of the connected bucks at the end of a round with no failure.
        self.indexed_until: float | None = None
        #: The last listing of each buck: C{{name: {start: size}}}.
        self.listings: dict[str, dict[int, int]] = {}
        self.links: dict[str, BuckLink] = {}
        #: C{{(buck, start): connection}}: the copies known to be the file
        #: loaded, and on which of the buck's connections they were seen.
        self._checked: dict[tuple[str, int], int] = {}
        factories = []
        for name, endpoint in bucks.items():
            link = self.links[name] = BuckLink(name, clock, request_timeout)
            factory = buck_factory(
                key=key,
                node=node,
                role="porter",
                handler=link,
                clock=clock,
                credentials=credentials,
            )
            factories.append(factory)
            buck_client(endpoint, factory, clock).setServiceParent(self)
        periodic(interval, self.round, clock, self._log, first=first_round).setServiceParent(self)
        if credentials is not None:
            watch = CredentialWatch(revocations, factories)
            watch.service(clock, revocation_interval).setServiceParent(self)

    def startService(self) -> None:
        for job in self.state.histories():
            if job.state in (JobState.QUEUED, JobState.LOADING):
                self._history_queue.append(job.id)
        super().startService()
        self._next_history()

    def stopService(self) -> Deferred[None]:
        return ensureDeferred(self._stop())

    async def _stop(self) -> None:
        """
        Stop the timers and connections, wait for the round and the history
        job in progress (each of their steps is short), close the state,
        the index and the archive.
        """
        self._history_queue.clear()
        await maybeDeferred(super().stopService)
        for busy in (self._running, self._history):
            if busy is not None:
                await busy
        self.state.close()
        await self._index.close()
        await self._archive.close()

    # -- rounds

    def round(self) -> Deferred[None] | None:
        """
        Start a round unless one is running (see the module docstring).

        @return: the round's Deferred, or C{None} if one was running.
        """
        if self._running is not None:
            return None
        running = self._running = ensureDeferred(self._round())

        def done(result: None | Failure) -> None:
            self._running = None
            if isinstance(result, Failure):
                self.stats.round_errors += 1
                self._log.failure("Porter round failed", result)
            else:
                self.stats.rounds += 1

        running.addBoth(done)
        return running

    async def _round(self) -> None:
        if not self._manifest_checked:
            await self._recover_manifest()
            self._manifest_checked = True
        now = self._clock.seconds()
        failures = self.stats.buck_failures
        self.listings = await self._list_all()
        starts = sorted({start for files in self.listings.values() for start in files})
        for start in starts:
            if start + 2 * self._seconds > now:
                break
            holders = {
                name: files[start] for name, files in self.listings.items() if start in files
            }
            try:
                await self._settle(start, holders, now)
            except BuckUnavailable as e:
                self.stats.buck_failures += 1
                self._log.warn(
                    "Bucket {start}: skipped for this round ({error})", start=start, error=str(e)
                )
        await self._index.drop_before(int((now - self._recent_seconds) * TICKS_PER_SECOND))
        await self._expire_histories(now)
        if self.stats.buck_failures == failures:
            # every closed bucket of the connected bucks is loaded
            self.indexed_until = now - self._seconds

    async def _list_all(self) -> dict[str, dict[int, int]]:
        listings = {}
        for name, link in self.links.items():
            if not link.connected_now:
                continue
            try:
                listings[name] = dict(await link.listing())
            except BuckUnavailable as e:
                self.stats.buck_failures += 1
                self._log.warn("Cannot list buck {buck}: {error}", buck=name, error=str(e))
                continue
            self._forget_absent(name, set(listings[name]))
        return listings

    def _forget_absent(self, name: str, present: set[int]) -> None:
        """
        Forget the copies of buck C{name} that its listing no longer shows
        (deleted after an archive the porter did not record as told, or
        lost with the buck's disk): a later file of such a bucket is
        another file, loaded from its start.
        """
        absent = self.state.forget_absent(name, present)
        for start in absent:
            self._checked.pop((name, start), None)
        if absent:
            self._log.info(
                "Buck {buck} no longer has {count} bucket file(s) of the porter's state"
                " ({first} to {last}): forgotten",
                buck=name,
                count=len(absent),
                first=absent[0],
                last=absent[-1],
            )

    async def _settle(self, start: int, holders: dict[str, int], now: float) -> None:
        """
        Load what is new of bucket C{start}, and archive it if it is due.
        """
        if start + self._seconds > now - self._recent_seconds:
            copies = self.state.copies(start)
            tails = self.state.tails(start)
            for name, size in holders.items():
                loaded = copies.get(name, (0, None))[0]
                checked = self._checked.get((name, start)) == self.links[name].connections
                if size != loaded or (loaded and not checked):
                    await self._load(name, start, loaded, tails.get(name), size)
        if start + self._seconds + self._quiet > now:
            return
        if not self.archived_as_listed(start, holders):
            await self._archive_bucket(start, holders, now)
        else:
            await self._tell_archived(start, holders, self.state.archived_digests(start))

    def archived_as_listed(self, start: int, holders: dict[str, int]) -> bool:
        """
        Whether the archive holds bucket C{start} as the bucks list it:
        each holder's file, at its listed size, was merged into the
        archived object.

        @param holders: the size of each buck's file, by buck name.
        """
        copies = self.state.copies(start)
        digests = self.state.archived_digests(start)
        return not any(
            copies.get(name, (0, None))[1] != size or name not in digests
            for name, size in holders.items()
        )

    async def _load(
        self, name: str, start: int, loaded: int, known: LoadedTail | None, size: int
    ) -> None:
        """
        Load what is new of buck C{name}'s file of bucket C{start} (C{size}
        bytes now) into the recent index, in steps of L{LOAD_STEP}: from
        the C{loaded} offset on if the file is still the one loaded (its
        last record loaded, C{known}, ends there), else from its start.

        The state is updated only if the buck stayed on one connection
        meanwhile (a buck that restarted may have another file).

        @raise BuckUnavailable: if the buck cannot answer, or reconnected.
        """
        link = self.links[name]
        connection = link.connections
        offset = 0
        if loaded:
            why = await self._replaced(link, start, loaded, known, size)
            if why is None:
                offset = loaded
            else:
                self.stats.reloaded_copies += 1
                self.state.forget_copies(start, [name])
                self._log.warn(
                    "Buck {buck}, bucket {start}: {why}; loading it again from its start",
                    buck=name,
                    start=start,
                    why=why,
                )
        tail = known if offset else None  # the last record loaded so far
        position = offset
        pending = b""  # a record cut by the step, or a torn tail
        last: bytes | None = None  # the last whole record's event read now
        while position < size:
            data = await link.read(start, position, min(position + LOAD_STEP, size))
            if link.connections != connection:
                raise BuckUnavailable(f"buck {name} reconnected during a load")
            if not data:
                break
            position += len(data)
            pending += data
            records = split_records(pending)
            pending = pending[records.consumed :]
            if records.events:
                last = records.events[-1]
            loaded_now = await self._index.load_serialized(records.events)
            self._count_corrupt(loaded_now.corrupt, loaded_now.first_error, name, start)
            self.stats.loaded_events += len(records.events) - loaded_now.corrupt
        done = position - len(pending)
        self.stats.loaded_bytes += done - offset
        if last is not None:
            record = encode_record(last)
            tail = LoadedTail(len(record), hashlib.sha256(record).digest())
        if done != loaded or offset == 0:
            self.state.set_loaded(start, name, done, tail)
        self._checked[(name, start)] = connection

    async def _replaced(
        self, link: BuckLink, start: int, loaded: int, tail: LoadedTail | None, size: int
    ) -> str | None:
        """
        Why buck C{link}'s file of bucket C{start}, now C{size} bytes, is
        not the file of which C{loaded} bytes were loaded, ending with the
        record C{tail}; C{None} if it is (its bytes before C{loaded} are
        that record).

        @raise BuckUnavailable: if the buck cannot answer.
        """
        if size < loaded:
            return f"the file has {size} bytes, fewer than the {loaded} loaded"
        if tail is None:
            return "the state does not say what was loaded last (a state of an earlier porter)"
        data = await link.read(start, loaded - tail.size, loaded)
        if hashlib.sha256(data).digest() != tail.sha256:
            return (
                f"another file (the {tail.size} bytes before byte {loaded}"
                " are not the record loaded last)"
            )
        return None

    def _counted(self, decoded: Decoded, name: str, start: int) -> list[Event]:
        """
        The good events of C{decoded}; the corrupt ones counted and logged.
        """
        self._count_corrupt(decoded.corrupt, decoded.first_error, name, start)
        return decoded.events

    def _count_corrupt(self, count: int, error: str | None, name: str, start: int) -> None:
        if count:
            self.stats.corrupt_events += count
            self._log.warn(
                "Buck {buck}, bucket {start}: {count} corrupt events skipped ({error})",
                buck=name,
                start=start,
                count=count,
                error=error,
            )

    async def _copies(
        self, start: int, holders: dict[str, int]
    ) -> tuple[list[list[Event]], dict[str, tuple[int, str]]]:
        """
        Every buck's whole file of bucket C{start}, decoded, and the events
        of its archived object if it has one.

        @return: the copies' events, and for each buck the size and SHA-256
            (hex) of the bytes read.
        """
        copies = []
        read = {}
        for name, size in holders.items():
            data = await self.links[name].read(start, 0, size)
            decoded, digest = await self._blocking(_decode_file, data)
            read[name] = (len(data), digest)
            copies.append(self._counted(decoded, name, start))
        entry = self.state.manifest_entry(start)
        if entry is not None:
            copies.append(await self._blocking(unpack, await self._archive.get(entry.key)))
        return copies, read

    async def _archive_bucket(self, start: int, holders: dict[str, int], now: float) -> None:
        """
        Archive bucket C{start}: merge the bucks' files with what the
        archive has, store, verify, record, then tell the bucks.
        """
        copies, read = await self._copies(start, holders)
        events, blob = await self._blocking(_merge_and_pack, copies)
        key = archive_key(start, self._seconds)
        await self._archive.put(key, blob)
        entry = ManifestEntry(
            start, key, len(events), len(blob), hashlib.sha256(blob).hexdigest(), now
        )
        sizes = {name: size for name, (size, _) in read.items()}
        digests = {name: digest for name, (_, digest) in read.items()}
        self.state.archived(start, entry, sizes, digests)
        await self._write_manifest(start)
        self.stats.archived_buckets += 1
        self.stats.archived_events += len(events)
        self._log.info(
            "Archived bucket {start} as {key}: {events} events, {size} bytes",
            start=start,
            key=key,
            events=len(events),
            size=len(blob),
        )
        await self._tell_archived(start, sizes, digests)

    async def _write_manifest(self, start: int) -> None:
        """
        Write the archive's manifest object of the hour holding C{start},
        from the porter's state.
        """
        hour = start - start % 3600
        entries = self.state.manifest_range(hour, hour + 3600)
        document = {
            "bucket_seconds": self._seconds,
            "buckets": [asdict(entry) for entry in entries],
        }
        body = json.dumps(document, indent=1, sort_keys=True).encode()
        await self._archive.put(manifest_key(start), body)

    async def _recover_manifest(self) -> None:
        """
        With an empty state (a new porter, or its state lost) and an archive
        that has manifest objects, take the archived buckets from them, so
        that history finds them and new copies are merged into them.
        """
        if self.state.archived_count():
            return
        keys = await self._archive.keys("manifest/")
        for key in keys:
            document = json.loads(await self._archive.get(key))
            for fields in document["buckets"]:
                entry = ManifestEntry(**fields)
                self.state.archived(entry.start, entry, {})
        if keys:
            self._log.info(
                "Took {buckets} archived buckets from {objects} manifest objects of the archive",
                buckets=self.state.archived_count(),
                objects=len(keys),
            )

    async def _tell_archived(
        self, start: int, sizes: dict[str, int], digests: dict[str, str]
    ) -> None:
        """
        Tell each buck holding bucket C{start} that the archive has its file
        at C{sizes[name]} bytes hashing to C{digests[name]}, with a receipt
        (signed in credential mode).  A buck that keeps its file has it
        archived again (its copy grew, or is not the one archived).
        """
        entry = self.state.manifest_entry(start)
        assert entry is not None
        for name, size in sizes.items():
            link = self.links[name]
            if link.node is None:
                raise BuckUnavailable(f"buck {name} has not said who it is")
            receipt = ArchiveReceipt(
                porter=self._node,
                buck=link.node,
                start=start,
                seconds=self._seconds,
                size=size,
                sha256=bytes.fromhex(digests[name]),
                key=entry.key,
                object_sha256=bytes.fromhex(entry.sha256),
                issued=int(self._clock.seconds()),
            )
            body, signature = sign_receipt(receipt, self._identity)
            if await link.archived(start, size, body, signature):
                # At once: a file of this bucket the buck makes later is
                # another file, not the one loaded and archived.
                self.state.forget_copies(start, [name])
                self._checked.pop((name, start), None)
                self.listings.get(name, {}).pop(start, None)
                self.stats.deleted_copies += 1
            else:
                self.state.forget_archived(start, name)
                self.stats.kept_copies += 1

    # -- history

    def request_history(self, first: int, end: int, hours: float = DEFAULT_HISTORY_HOURS) -> HistoryJob:
        """
        Queue a history index of the points C{[first, end)}, to be dropped
        C{hours} after now.

        @raise ValueError: if the range is empty or C{hours} not positive.
        """
        if not 0 <= first < end:
            raise ValueError(f"the range must not be empty ({first} to {end})")
        if not hours > 0:
            raise ValueError(f"the expiry must be positive, not {hours} h")
        now = self._clock.seconds()
        job = HistoryJob(
            id=secrets.token_hex(6), start=first, end=end, created=now,
            expires=now + hours * 3600, state=JobState.QUEUED, done=0, total=0, events=0,
            error=None,
        )
        self.state.add_history(job)
        self._history_queue.append(job.id)
        self._next_history()
        return job

    def _next_history(self) -> None:
        if self._history is not None or not self._history_queue or not self.running:
            return
        job_id = self._history_queue.pop(0)

        def done(result: None | Failure) -> None:
            self._history = None
            if isinstance(result, Failure):
                self._log.failure("History {id} failed", result, id=job_id)
                self.state.update_history(job_id, state=JobState.FAILED, error=result.getErrorMessage())
            self._next_history()

        self._history = ensureDeferred(self._load_history(job_id))
        self._history.addBoth(done)

    def _history_starts(self, job: HistoryJob) -> list[int]:
        first = bucket_start(job.start, self._seconds)
        last = (job.end - 1) // TICKS_PER_SECOND + 1
        starts = {entry.start for entry in self.state.manifest_range(first, last)}
        for files in self.listings.values():
            starts.update(start for start in files if first <= start < last)
        return sorted(starts)

    async def _load_history(self, job_id: str) -> None:
        job = self.state.history(job_id)
        if job is None or job.state not in (JobState.QUEUED, JobState.LOADING):
            return
        starts = self._history_starts(job)
        self.state.update_history(job_id, state=JobState.LOADING, total=len(starts), done=0, events=0)
        index = self._open_index(job.index)
        loaded = 0
        try:
            for done, start in enumerate(starts, 1):
                holders = {
                    name: files[start]
                    for name, files in self.listings.items()
                    if start in files and self.links[name].connected_now
                }
                copies, _ = await self._copies(start, holders)
                merged = await self._blocking(merge, copies)
                events = [e for e in merged if job.start <= e.point < job.end]
                await index.load(events)
                loaded += len(events)
                self.state.update_history(job_id, done=done, events=loaded)
        finally:
            await index.close()
        self.state.update_history(job_id, state=JobState.READY)
        self._log.info(
            "History {id} ready: {events} events from {buckets} buckets",
            id=job_id, events=loaded, buckets=len(starts),
        )

    async def _expire_histories(self, now: float) -> None:
        for job in self.state.histories():
            if job.state in (JobState.READY, JobState.FAILED) and job.expires <= now:
                index = self._open_index(job.index)
                await index.destroy()
                await index.close()
                self.state.update_history(job.id, state=JobState.EXPIRED)
                self._log.info("History {id} expired", id=job.id)


def _decode_file(data: bytes) -> tuple[Decoded, str]:
    """
    The events of bucket file bytes (whole records only), decoded, and the
    SHA-256 (hex) of the bytes.
    """
    return decode_all(split_records(data).events), hashlib.sha256(data).hexdigest()


def _merge_and_pack(copies: list[list[Event]]) -> tuple[list[Event], bytes]:
    """
    The merged events of a bucket's copies, and their archived object.
    """
    events = merge(copies)
    return events, pack(events)

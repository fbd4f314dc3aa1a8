"""The live tail of a real buck, attacked (issue 11): idle clients, deep JSON, foreign origins.

A buck (C{twistd logship-buck --live ...}, its defaults but a filter
timeout of 5 s) on 127.0.0.1.  256 idle WebSockets from one address,
answering pings but never sending a filter, used to hold every live slot
for minutes; now at most 32 of them get in (429 beyond), and they are
closed after the filter timeout, while a page from another address
connects at once and gets its events.  60 KB of nested JSON is a close
code, not a traceback; a page of another origin is refused with 403.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.task import deferLater

from logship.buck.live.factory import DEFAULT_MAX_PER_ADDRESS
from logship.buck.live.messages import CLOSE_NO_FILTER, CLOSE_NOT_JSON
from logship.core.keys import read_key, write_new_key
from tests.integration.processes import LISTENING, ProcessGroup, TwistdProcess
from tests.integration.test_buck_process import connect_tailer, event
from tests.integration.waiting import wait_until

LIVE_LISTENING = re.compile(r"logship-buck live listening on (?P<host>\S+):(?P<port>\d+)")
#: The idle clients of the attack.
IDLE = 256
#: Seconds the buck waits for a filter.
FILTER_TIMEOUT = 5


class Client(WebSocketClientProtocol):
    """
    A live client: sends C{filter} on open, if it has one (an idle one
    never does, but answers pings: Autobahn does).
    """

    filter: dict[str, Any] | None = None

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict[str, Any]] = []
        self.opened = False
        self.closed: Deferred[tuple[int | None, str | None]] = Deferred()

    def onOpen(self) -> None:
        self.opened = True
        if self.filter is not None:
            self.sendMessage(json.dumps(self.filter).encode())

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.messages.append(json.loads(payload))

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        if not self.closed.called:
            self.closed.callback((code, reason))


async def connect(port: int, *, source: str = "127.0.0.1", filter: dict[str, Any] | None = None,
                  origin: str | None = None) -> Client:
    """
    A WebSocket to the buck's live tail from address C{source}.
    """
    headers = {} if origin is None else {"Origin": origin}
    factory = WebSocketClientFactory(f"ws://127.0.0.1:{port}/live", reactor=reactor,
                                     headers=headers)
    factory.protocol = type("C", (Client,), {"filter": filter})
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port, bindAddress=(source, 0))
    client = await endpoint.connect(factory)
    assert isinstance(client, Client)
    return client


async def settled(client: Client) -> Client:
    """
    Wait until the client is open or closed.
    """
    await wait_until(lambda: client.opened or client.closed.called, 20, "open or closed")
    return client


@pytest.fixture
def buck(tmp_path: Path) -> Iterator[TwistdProcess]:
    key = tmp_path / "cluster.key"
    write_new_key(key)
    group = ProcessGroup(tmp_path)
    try:
        process = group.start_twistd(
            "logship-buck",
            ["--listen", "tcp:0:interface=127.0.0.1", "--live", "tcp:0:interface=127.0.0.1",
             "--data", "data", "--key", str(key), "--node", "buck-live",
             "--live-filter-timeout", str(FILTER_TIMEOUT)],
            name="buck", ready=LIVE_LISTENING,
        )
        wire = LISTENING.search(process.log_text())
        assert wire is not None
        process.live_port = process.port  # type: ignore[attr-defined]
        process.port = int(wire["port"])
        process.key = key  # type: ignore[attr-defined]
        yield process
    finally:
        group.stop_all()


async def idle_client(port: int) -> Client:
    return await settled(await connect(port))


@pytest_twisted.ensureDeferred
async def test_idle_clients_do_not_hold_the_slots(buck: TwistdProcess) -> None:
    """
    256 idle clients at once from one address: 32 get in, the others get
    429; a page from another address gets in and gets its events; the
    idle ones are closed (4008) after the filter timeout, and their
    address may connect again.
    """
    port = buck.live_port  # type: ignore[attr-defined]
    idle: list[Client] = await gatherResults(
        [Deferred.fromCoroutine(idle_client(port)) for _ in range(IDLE)]
    )
    admitted = [c for c in idle if c.opened]
    assert len(admitted) == DEFAULT_MAX_PER_ADDRESS
    assert len(buck.log_text().split("refused: 429")) - 1 == IDLE - DEFAULT_MAX_PER_ADDRESS
    # A page from another address gets in at once, and gets its events.
    page = await settled(await connect(port, source="127.0.0.2",
                                       filter={"type": "filter", "substring": "live"}))
    assert page.opened
    tailer, protocol = await connect_tailer(buck, read_key(buck.key))  # type: ignore[attr-defined]
    try:
        for attempt in range(100):
            await tailer.deliver(attempt, [event("live", attempt)])
            if any(m["type"] == "events" for m in page.messages):
                break
            await deferLater(reactor, 0.05, lambda: None)
        assert any(m["type"] == "events" for m in page.messages)
        # The idle ones are closed after the filter timeout; their address
        # may connect again.
        codes = [await c.closed for c in admitted]
        assert {code for code, _ in codes} == {CLOSE_NO_FILTER}
        assert all(f"no filter within {FILTER_TIMEOUT} s" in (reason or "")
                   for _, reason in codes)
        assert not page.closed.called
        again = await settled(await connect(port, filter={"type": "filter"}))
        assert again.opened
    finally:
        protocol.transport.loseConnection()
        for client in [*idle, page]:
            client.dropConnection(abort=True)


@pytest_twisted.ensureDeferred
async def test_bad_messages_and_origins(buck: TwistdProcess) -> None:
    """
    60 KB of nested JSON closes the connection (4007) and logs no
    traceback; a page of another origin is refused with 403; a page of
    this machine, and a client without an Origin, get in.
    """
    port = buck.live_port  # type: ignore[attr-defined]
    client = await settled(await connect(port, filter={"type": "filter"}))
    client.sendMessage(b"[" * 60_000)
    code, reason = await client.closed
    assert code == CLOSE_NOT_JSON and "nested too deeply" in (reason or "")
    evil = await settled(await connect(port, origin="https://evil.example"))
    assert not evil.opened
    await wait_until(lambda: buck.find(r"refused: 403 origin 'https://evil.example'"), 10,
                     "the refusal logged", on_timeout=buck.tail)
    local = await settled(await connect(port, origin="http://127.0.0.1:4480",
                                        filter={"type": "filter"}))
    assert local.opened
    local.dropConnection(abort=True)
    assert "Traceback" not in buck.log_text()
    assert "RecursionError" not in buck.log_text()

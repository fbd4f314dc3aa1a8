"""The live tail of a real buck process: C{twistd logship-buck --live ...}.

The buck logs its wire's "listening on" line first and its live tail's
"logship-buck live listening on" second; L{LISTENING} must find the wire's
port whatever the order.  Events delivered over the wire reach a WebSocket
client connected to C{/live}.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint

from logship.core.keys import read_key, write_new_key
from tests.integration.processes import LISTENING, ProcessGroup
from tests.integration.test_buck_process import connect_tailer, event
from tests.integration.waiting import wait_until

LIVE_LISTENING = re.compile(r"logship-buck live listening on (?P<host>\S+):(?P<port>\d+)")


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[ProcessGroup]:
    group = ProcessGroup(tmp_path)
    try:
        yield group
    finally:
        group.stop_all()


class Client(WebSocketClientProtocol):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict[str, Any]] = []

    def onOpen(self) -> None:
        self.sendMessage(json.dumps({"type": "filter", "substring": "live"}).encode())

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.messages.append(json.loads(payload))


@pytest_twisted.ensureDeferred
async def test_live_buck(processes: ProcessGroup, tmp_path: Path) -> None:
    key = tmp_path / "cluster.key"
    write_new_key(key)
    buck = processes.start_twistd(
        "logship-buck",
        ["--listen", "tcp:0:interface=127.0.0.1", "--live", "tcp:0:interface=127.0.0.1",
         "--data", "data", "--key", str(key), "--node", "buck-live"],
        name="buck",
        ready=LIVE_LISTENING,
    )
    live_port = buck.port
    log = buck.log_text()
    wire = LISTENING.search(log)
    assert wire is not None and buck.find(r"logship-buck listening on") is not None
    assert int(wire["port"]) != live_port
    # LISTENING does not match the live line at all, wherever it is.
    live_line = LIVE_LISTENING.search(log)
    assert live_line is not None
    assert LISTENING.search(live_line.group(0)) is None
    buck.port = int(wire["port"])

    factory = WebSocketClientFactory(f"ws://127.0.0.1:{live_port}/live", reactor=reactor)
    factory.protocol = Client
    client = await TCP4ClientEndpoint(reactor, "127.0.0.1", live_port).connect(factory)
    assert isinstance(client, Client)
    await wait_until(lambda: client.messages, 10)
    assert client.messages[0] == {"type": "hello", "node": "buck-live"}
    await wait_until(lambda: buck.find(r"Live client \S+ connected"), 10)

    tailer, protocol = await connect_tailer(buck, read_key(key))
    try:
        # The filter may still be on its way: deliver (polling) until
        # events arrive.
        attempts = itertools.count()

        async def delivered_and_got_events() -> bool:
            attempt = next(attempts)
            await tailer.deliver(attempt, [event("live", attempt), event("other", attempt)])
            return any(m["type"] == "events" for m in client.messages)

        await wait_until(delivered_and_got_events, 10, "events on the live client")
        received = [e for m in client.messages if m["type"] == "events" for e in m["events"]]
        assert received and all(e["message"].startswith("live ") for e in received)
        assert {"id", "point", "time", "host", "app", "pid", "severity", "facility",
                "message"} <= set(received[0])
    finally:
        protocol.transport.loseConnection()
        client.dropConnection(abort=True)

"""A deterministic generator of realistic syslog lines, for the demo and benchmarks.

The lines look like a small fleet's C{/var/log/syslog}: sshd logins and
failures, cron jobs, kernel messages, nginx and postfix, with addresses,
users, paths and ids people search for.  The same seed gives the same lines.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

_HOSTS = ["web1", "web2", "db1", "mail", "gw", "build7"]
_USERS = ["root", "alice", "bob", "deploy", "postgres", "www-data", "admin"]
_PATHS = ["/var/log/syslog", "/etc/nginx/nginx.conf", "/srv/app/current", "/tmp/x.sock"]


def _ip(rng: random.Random) -> str:
    return f"{rng.choice([10, 172, 192, 203])}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _message(rng: random.Random) -> tuple[str, str]:
    """
    One (tag name, message) pair.
    """
    kind = rng.randrange(10)
    user = rng.choice(_USERS)
    if kind < 3:
        return "sshd", rng.choice(
            [
                f"Accepted publickey for {user} from {_ip(rng)} port {rng.randrange(1024, 65535)} ssh2: ED25519 SHA256:{rng.getrandbits(64):016x}",
                f"Failed password for invalid user {user} from {_ip(rng)} port {rng.randrange(1024, 65535)} ssh2",
                f"Disconnected from user {user} {_ip(rng)} port {rng.randrange(1024, 65535)}",
                f"pam_unix(sshd:session): session opened for user {user}(uid={rng.randrange(1000, 1100)}) by (uid=0)",
            ]
        )
    if kind < 5:
        return "CRON", f"({user}) CMD (run-parts --report /etc/cron.hourly)"
    if kind < 7:
        return "nginx", (
            f'{_ip(rng)} - - "GET /api/v1/items/{rng.randrange(100000)} HTTP/1.1" '
            f'{rng.choice([200, 200, 200, 304, 404, 500])} {rng.randrange(100, 90000)} '
            f'"-" "Mozilla/5.0 (X11; Linux x86_64)" rt={rng.random():.3f}'
        )
    if kind < 8:
        return "kernel", rng.choice(
            [
                f"[{rng.uniform(1, 99999):.6f}] eth0: renamed from veth{rng.getrandbits(28):07x}",
                f"[{rng.uniform(1, 99999):.6f}] EXT4-fs (sda1): re-mounted. Opts: errors=remount-ro",
                f"[{rng.uniform(1, 99999):.6f}] Out of memory: Killed process {rng.randrange(100, 99999)} (python3)",
            ]
        )
    if kind < 9:
        queue = f"{rng.getrandbits(40):010X}"
        return "postfix/smtpd", f"{queue}: client=mail{rng.randrange(9)}.example.org[{_ip(rng)}], sasl_username={user}@example.com"
    return "systemd", f"Started Session {rng.randrange(1, 9999)} of user {user}; see {rng.choice(_PATHS)}"


class SampleSource:
    """
    An endless source of sample lines, each stamped with the time it is
    given: the demo writes them as time goes by.
    """

    def __init__(self, seed: int = 0) -> None:
        """
        @param seed: the random seed; the same seed gives the same lines.
        """
        self._rng = random.Random(seed)
        self._pids = {host: self._rng.randrange(300, 30000) for host in _HOSTS}

    def line(self, when: float) -> bytes:
        """
        One RFC 3164 file-format line (without terminator) at C{when}
        (seconds since the epoch, shown in local time as syslog does).
        """
        rng = self._rng
        stamp = time.strftime("%b %e %H:%M:%S", time.localtime(when))
        host = rng.choice(_HOSTS)
        app, message = _message(rng)
        pid = "" if app == "kernel" else f"[{self._pids[host] + rng.randrange(50)}]"
        return f"{stamp} {host} {app}{pid}: {message}".encode()


def sample_lines(
    count: int, *, start: float, rate: float = 100.0, seed: int = 0
) -> Iterator[bytes]:
    """
    Generate C{count} RFC 3164 file-format lines (without terminators).

    @param start: the time of the first line (seconds since the epoch, shown
        in local time, as syslog writes files).
    @param rate: lines per second of log time, so the lines spread over
        C{count / rate} seconds; several lines share each second.
    @param seed: the random seed; the same seed gives the same lines.
    """
    source = SampleSource(seed)
    for i in range(count):
        yield source.line(start + i / rate)


_JAVA_CLASSES = ["OrderService", "PaymentClient", "InventoryRepository", "HttpHandler", "Scheduler"]
_JAVA_ERRORS = [
    ("java.lang.IllegalStateException", "order {n} is already closed"),
    ("java.net.SocketTimeoutException", "Read timed out after {n} ms"),
    ("java.lang.NullPointerException", "Cannot invoke \"Item.price()\" because \"item\" is null"),
    ("org.example.shop.PaymentDeclinedException", "card declined for order {n}"),
]


class JavaSampleSource:
    """
    An endless source of Java-ish application log lines (log4j layout,
    C{yyyy-MM-dd HH:mm:ss,SSS LEVEL [thread] logger: message}), some of them
    followed by a stack trace with C{at} frames, C{Caused by:} and
    C{... N more}: what the C{java} multi-line preset joins (the demo's
    second sample).
    """

    def __init__(self, seed: int = 0) -> None:
        """
        @param seed: the random seed; the same seed gives the same lines.
        """
        self._rng = random.Random(seed)

    def _frames(self, count: int) -> list[str]:
        rng = self._rng
        return [
            f"\tat org.example.shop.{rng.choice(_JAVA_CLASSES)}."
            f"{rng.choice(['handle', 'load', 'save', 'run', 'call'])}"
            f"({rng.choice(_JAVA_CLASSES)}.java:{rng.randrange(20, 400)})"
            for _ in range(count)
        ]

    def event(self, when: float) -> list[bytes]:
        """
        The lines (without terminators) of one log event at C{when}
        (seconds since the epoch, in local time): one line, or a line and
        its stack trace (about one event in five).
        """
        rng = self._rng
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))
        millis = int(when * 1000) % 1000
        thread = rng.choice(["main", "http-nio-8080-exec-3", "scheduler-1", "pool-2-thread-7"])
        logger = f"org.example.shop.{rng.choice(_JAVA_CLASSES)}"
        n = rng.randrange(1000, 99999)
        head = f"{stamp},{millis:03d} {{level}} [{thread}] {logger}: "
        if rng.randrange(5):
            level = rng.choice(["INFO", "INFO", "DEBUG", "WARN"])
            text = rng.choice([f"order {n} accepted", f"cache refreshed in {n % 900} ms",
                               f"user {rng.choice(_USERS)} logged in", f"retrying batch {n}"])
            return [(head.format(level=level) + text).encode()]
        error, message = rng.choice(_JAVA_ERRORS)
        lines = [head.format(level="ERROR") + f"request {n} failed", f"{error}: {message.format(n=n)}"]
        lines += self._frames(rng.randrange(3, 9))
        if rng.randrange(2):
            lines.append(f"Caused by: java.io.IOException: connection reset by peer {_ip(rng)}")
            lines += self._frames(rng.randrange(1, 4))
            lines.append(f"\t... {rng.randrange(2, 30)} more")
        return [line.encode() for line in lines]

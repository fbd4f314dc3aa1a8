"""Multi-line sample logs for the tests: a Java stack trace, a Python
traceback, and a trace over 64 KiB, each after a log line and before
another."""

from __future__ import annotations

from datetime import timezone

from logship.core.parse import parse_line

#: A log4j line with a Java stack trace (and a cause).
JAVA_TRACE = (
    b"2023-11-14 22:15:23,481 ERROR [main] org.example.App: request 7 failed\n"
    b"java.lang.IllegalStateException: order 7 is already closed\n"
    b"\tat org.example.App.handle(App.java:42)\n"
    b"\tat org.example.App.main(App.java:10)\n"
    b"Caused by: java.io.IOException: disk full\n"
    b"\tat org.example.Store.write(Store.java:7)\n"
    b"\t... 1 more"
)

#: A log line with a Python traceback, chained.
PYTHON_TRACE = (
    b"2023-11-14 22:15:24,002 ERROR worker: job 9 failed\n"
    b"Traceback (most recent call last):\n"
    b'  File "/srv/app/jobs.py", line 12, in run\n'
    b"    total = 1 / count\n"
    b"ZeroDivisionError: division by zero\n"
    b"\n"
    b"During handling of the above exception, another exception occurred:\n"
    b"\n"
    b"Traceback (most recent call last):\n"
    b'  File "/srv/app/jobs.py", line 14, in run\n'
    b'    raise ValueError("no items")\n'
    b"ValueError: no items"
)

#: A Java trace of about 100 KiB in 450 lines: more than one event's 64
#: KiB, within the default 500 lines.
LONG_TRACE = b"\n".join(
    [b"2023-11-14 22:15:25,000 ERROR [main] org.example.App: deep recursion",
     b"java.lang.StackOverflowError: null"]
    + [b"\tat org.example.generated.proxies.deeply.nested.package.name.for.the.test."
       b"TreeWalkerWithAVeryLongClassNameIndeed.walkTheTreeRecursivelyUntilTheStackIsGone"
       b"(TreeWalkerWithAVeryLongClassNameIndeed.java:%d)" % (i % 997) for i in range(448)]
)  # fmt: skip

BEFORE = b"2023-11-14 22:15:22,000 INFO [main] org.example.App: started"
AFTER = b"2023-11-14 22:15:26,000 INFO [main] org.example.App: done"


def log_of(trace: bytes, newline: bytes = b"\n") -> bytes:
    """
    A log file: a line, C{trace}, a line; lines ended by C{newline}.
    """
    lines = [BEFORE, *trace.split(b"\n"), AFTER]
    return b"".join(line + newline for line in lines)


def message_of(trace: bytes) -> bytes:
    """
    The message of C{trace}'s event: its first line's message as the
    parser gives it (the header cut off), then the other lines verbatim.
    """
    first, newline, rest = trace.partition(b"\n")
    return parse_line(first, now=0.0, tz=timezone.utc).message + newline + rest

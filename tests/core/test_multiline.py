"""Tests for L{logship.core.multiline}: rules, presets, limits, and the
joined events read back byte for byte."""

from __future__ import annotations

from datetime import timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from logship.core.event import MAX_PART, join_parts, unpack_origin
from logship.core.ingest import LineEncoder, lines_at
from logship.core.multiline import (
    Joined,
    Joiner,
    join_lines,
    make_rules,
    rules_from_table,
)
from logship.core.parse import parse_line
from logship.core.render import whole_lines
from tests.multiline import AFTER, BEFORE, JAVA_TRACE, LONG_TRACE, PYTHON_TRACE, log_of, message_of
from tests.strategies import header_lines

JAVA = make_rules(preset="java")
PYTHON = make_rules(preset="python")


def groups(data: bytes, rules=JAVA) -> list[bytes]:  # type: ignore[no-untyped-def]
    return [j.data for j in join_lines(lines_at([data]), rules)]


def encoded(data: bytes, rules=JAVA) -> list:  # type: ignore[no-untyped-def]
    """
    The events of a file's lines joined by C{rules}, long ones split.
    """
    encoder = LineEncoder(host=b"h", tz=timezone.utc, source=5)
    return [
        e
        for j in join_lines(lines_at([data]), rules)
        for e in encoder.events(j.data, 0.0, j.offset, first=j.first)
    ]


class PresetTests(SynchronousTestCase):
    def test_java(self) -> None:
        """
        The exception line, frames, C{Caused by:} and C{... N more} join
        the log line before them; the lines after begin events.
        """
        self.assertEqual(groups(log_of(JAVA_TRACE)), [BEFORE, JAVA_TRACE, AFTER])

    def test_python(self) -> None:
        """
        A traceback, chained ones too, joins the log line before it, up to
        its exception line.
        """
        self.assertEqual(groups(log_of(PYTHON_TRACE), PYTHON), [BEFORE, PYTHON_TRACE, AFTER])

    def test_python_traceback_ends_at_its_exception_line(self) -> None:
        text = b"Traceback (most recent call last):\n  File \"x\", line 1\nKeyError: 'a'\nnext\n\nafter"
        self.assertEqual(
            groups(text, PYTHON),
            [b"Traceback (most recent call last):\n  File \"x\", line 1\nKeyError: 'a'",
             b"next", b"", b"after"],
        )  # fmt: skip

    def test_crlf_kept(self) -> None:
        """
        The terminators between joined lines are kept as they were; the
        last line's is not part of the event.
        """
        text = log_of(JAVA_TRACE, b"\r\n")
        self.assertEqual(groups(text), [BEFORE, JAVA_TRACE.replace(b"\n", b"\r\n"), AFTER])


class PatternTests(SynchronousTestCase):
    def test_start_pattern(self) -> None:
        rules = make_rules(start=r"^\d{4}-")
        self.assertEqual(groups(b"2023-a\nx\ny\n2023-b\n2023-c\nz", rules),
                         [b"2023-a\nx\ny", b"2023-b", b"2023-c\nz"])  # fmt: skip
        self.assertEqual(groups(b"x\n2023-a\ny", rules), [b"x", b"2023-a\ny"])

    def test_continuation_negated(self) -> None:
        """
        With C{negate}, lines the continuation pattern does not match
        continue: Filebeat's C{negate: true, match: after}.
        """
        rules = make_rules(continuation=r"^\[", negate=True)
        self.assertEqual(groups(b"[1] a\nb\nc\n[2] d\n[3]", rules), [b"[1] a\nb\nc", b"[2] d", b"[3]"])

    def test_start_and_continuation(self) -> None:
        """
        A start line always begins an event; other lines continue when the
        continuation pattern says so, else begin one too.
        """
        rules = make_rules(start=r"^BEGIN", continuation=r"^\s")
        self.assertEqual(groups(b"BEGIN 1\n x\n y\nBEGIN 2\nother\n z", rules),
                         [b"BEGIN 1\n x\n y", b"BEGIN 2", b"other\n z"])  # fmt: skip


class LimitTests(SynchronousTestCase):
    def test_max_lines(self) -> None:
        """
        A group is emitted when it has C{max_lines}; the next continuation
        line begins another: nothing is dropped.
        """
        rules = make_rules(preset="java", max_lines=3)
        text = b"E\n\tat a\n\tat b\n\tat c\n\tat d\nnext"
        self.assertEqual(groups(text, rules), [b"E\n\tat a\n\tat b", b"\tat c\n\tat d", b"next"])

    def test_max_bytes(self) -> None:
        rules = make_rules(preset="java", max_bytes=12)
        text = b"E\n\tat a\n\tat b\n\tat 0123456789abcdef"
        self.assertEqual(groups(text, rules), [b"E\n\tat a", b"\tat b", b"\tat 0123456789abcdef"])

    def test_pieces_of_long_lines_pass_alone(self) -> None:
        """
        The pieces of an over-long line (C{ended=False}) emit what is held
        and go through one by one, never joined.
        """
        joiner = Joiner(JAVA)
        self.assertEqual(joiner.feed(b"E", 0), [])
        self.assertEqual(joiner.feed(b"\tat", 2, ended=False), [Joined(b"E", 0, 0), Joined(b"\tat", 2, 0, None, False)])
        self.assertEqual(joiner.feed(b" x", 5), [Joined(b" x", 5, 0)])
        self.assertEqual(joiner.feed(b"\tat y", 8), [])
        self.assertEqual(joiner.held, (0, 8))

    def test_new_file_flushes(self) -> None:
        joiner = Joiner(JAVA)
        joiner.feed(b"E", 0, 3)
        joiner.feed(b"\tat a", 2, 3)
        self.assertEqual(joiner.held, (3, 0))
        self.assertEqual(joiner.feed(b"\tat b", 0, 4), [Joined(b"E\n\tat a", 0, 3, 1, True, 2)])
        self.assertEqual(joiner.held, (4, 0))

    def test_idle(self) -> None:
        """
        A group is idle once no line came for the timeout; L{Joiner.flush}
        emits it.
        """
        joiner = Joiner(make_rules(preset="java", timeout=2))
        self.assertFalse(joiner.idle(100.0))
        joiner.feed(b"E", 0, now=100.0)
        self.assertFalse(joiner.idle(101.9))
        self.assertTrue(joiner.idle(102.0))
        self.assertEqual(joiner.flush(), [Joined(b"E", 0, 0)])
        self.assertEqual((joiner.held, joiner.flush()), (None, []))


class RulesTests(SynchronousTestCase):
    def test_table(self) -> None:
        rules = rules_from_table({"start": "^x", "max_lines": 9, "max_bytes": 99, "timeout": 1})
        self.assertEqual((rules.start.pattern, rules.max_lines, rules.max_bytes, rules.timeout),  # type: ignore[union-attr]
                         (b"^x", 9, 99, 1.0))  # fmt: skip
        self.assertEqual(rules_from_table({"preset": "python"}), make_rules(preset="python"))

    def test_refused(self) -> None:
        for table, message in [
            ({}, "give a preset"),
            ({"preset": "cobol"}, "'cobol' is not one of java, python"),
            ({"preset": "java", "start": "x"}, "not both"),
            ({"start": "("}, "start: '(' is not a regular expression"),
            ({"start": "x", "negate": True}, "negate applies to a continuation pattern"),
            ({"start": "x", "max_lines": 1}, "max_lines: at least 2"),
            ({"start": "x", "max_lines": "5"}, "max_lines must be an integer"),
            ({"start": "x", "timeout": 0}, "timeout: seconds > 0"),
            ({"start": "x", "negate": 1}, "negate must be true or false"),
            ({"begin": "x"}, "unknown key 'begin'"),
        ]:
            with self.assertRaises(ValueError) as caught:
                rules_from_table(table)
            self.assertIn(message, str(caught.exception))


class EventTests(SynchronousTestCase):
    def test_header_from_the_first_line(self) -> None:
        """
        A joined event's time, host and app are parsed from its first line;
        its message is the rest of the first line and the other lines,
        verbatim; its origin is the first line's.
        """
        before, trace, after = encoded(log_of(JAVA_TRACE))
        self.assertEqual(trace.message, message_of(JAVA_TRACE))
        first = parse_line(JAVA_TRACE.split(b"\n")[0], now=0.0, tz=timezone.utc)
        self.assertEqual(trace.point // 10**8, first.point // 10**8)
        self.assertEqual(unpack_origin(trace.origin), (5, 0, len(BEFORE) + 1))
        self.assertFalse(trace.continued)

    def test_over_64_kib_splits_with_the_continuation_flag(self) -> None:
        events = encoded(log_of(LONG_TRACE))
        parts = events[1:-1]
        self.assertGreater(len(LONG_TRACE), 64 << 10)
        self.assertEqual(len(parts), -(-len(message_of(LONG_TRACE)) // MAX_PART))
        self.assertEqual([p.continued for p in parts], [True] * (len(parts) - 1) + [False])
        self.assertEqual(join_parts(parts), message_of(LONG_TRACE))
        self.assertEqual([e.message for e in whole_lines(events)][1], message_of(LONG_TRACE))


_CONTINUATIONS = [
    b"\tat a.B.c(B.java:1)", b"\t... 3 more", b"Caused by: x.Y: z", b"  File \"a\", line 1",
    b"Traceback (most recent call last):", b"ValueError: v", b"", b" ", b"\r", b"x.y.ZError",
    b"During handling of the above exception, another exception occurred:",
]  # fmt: skip


@st.composite
def log_texts(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """
    A log's bytes and its lines: header lines, continuation-like lines and
    arbitrary bytes, ended by LF or CR LF (the last maybe by nothing).
    """
    line = st.one_of(
        header_lines().map(lambda b: b.replace(b"\n", b"")),
        st.sampled_from(_CONTINUATIONS),
        st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")),
        st.just(b"\tat " + b"x" * 50000),
    )
    lines = draw(st.lists(line, max_size=30))
    ends = draw(st.lists(st.sampled_from([b"\n", b"\r\n"]), min_size=len(lines), max_size=len(lines)))
    text = b"".join(a + b for a, b in zip(lines, ends))
    if lines and draw(st.booleans()):
        text = text[: -len(ends[-1])]
    return text, lines


_RULES = [JAVA, PYTHON, make_rules(start=r"^\d"), make_rules(continuation=r"^[ \t]", negate=True),
          make_rules(preset="java", max_lines=2), make_rules(preset="python", max_bytes=40)]  # fmt: skip


class LosslessTests(SynchronousTestCase):
    @settings(max_examples=300, deadline=None)
    @given(log_texts(), st.sampled_from(_RULES))
    def test_joined_then_read_back_gives_the_input(
        self, log: tuple[bytes, list[bytes]], rules: object
    ) -> None:
        """
        For any lines and rules: the groups, with a line terminator between
        them, are the input bytes; each event's message, its parts joined
        again, is its group without the header parsed from the first line;
        each line is in exactly one group, in order.
        """
        text, _ = log
        joined = list(join_lines(lines_at([text]), rules))  # type: ignore[arg-type]
        at, between = 0, [b""]
        for group in joined:
            self.assertIn(text[at : group.offset], between)
            between = [b"\n", b"\r\n"]
            self.assertEqual(text[group.offset : group.offset + len(group.data)], group.data)
            at = group.offset + len(group.data)
        self.assertIn(text[at:], (b"", b"\n", b"\r\n", b"\r"))
        self.assertEqual(sum(g.lines for g in joined), len(list(lines_at([text]))))
        encoder = LineEncoder(host=b"h", tz=timezone.utc, source=1)
        for group in joined:
            events = encoder.events(group.data, 0.0, group.offset, first=group.first)
            first = group.data if group.first is None else group.data[: group.first]
            header = len(first) - len(parse_line(first, now=0.0, tz=timezone.utc).message)
            self.assertEqual(join_parts(events), group.data[header:])
            self.assertEqual(unpack_origin(events[0].origin)[2], group.offset)

"""Tests for L{logship.core.tokenize}: the rule by example, and its invariants."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from logship.core import tokenize
from tests import strategies

#: Each test runs through the compiled and the pure-Python codec (tests/core/conftest.py).
pytestmark = pytest.mark.usefixtures("implementation")

WORD = re.compile(rb"[0-9A-Za-z_\x80-\xff]")

EXAMPLES = [
    # plain words, numbers
    (b"Invalid user webmaster from 173.234.31.186",
     [b"Invalid", b"user", b"webmaster", b"from", b"173.234.31.186"]),
    (b"pi is 3.14, debt -12 and -3.5; range 5-12 --12 x-",
     [b"pi", b"is", b"3.14", b"debt", b"-12", b"and", b"-3.5", b"range", b"5-12", b"-12", b"x"]),
    # IPv4 with a port, as Java prints it
    (b"src: /10.251.73.220:50010 dest", [b"src", b"10.251.73.220", b"50010", b"dest"]),
    # IPv6
    (b"from ::1 port 22", [b"from", b"::1", b"port", b"22"]),
    (b"[::1]:8080", [b"::1", b"8080"]),
    (b"fe80::1%eth0 up", [b"fe80::1%eth0", b"up"]),
    (b"2001:db8::ff00:42:8329 and 2001:db8:0:0:0:ff00:42:8329",
     [b"2001:db8::ff00:42:8329", b"and", b"2001:db8:0:0:0:ff00:42:8329"]),
    (b"::ffff:192.0.2.1 fe80::/10 2001:db8::", [b"::ffff:192.0.2.1", b"fe80::/10", b"2001:db8::"]),
    (b"x:fe80::1", [b"x", b"fe80::1"]),
    (b"listening on :: port 22", [b"listening", b"on", b"port", b"22"]),
    # not IPv6
    (b"std::vector at 06:55:46", [b"std", b"vector", b"at", b"06", b"55", b"46"]),
    (b"1:2:3:4:5:6:7:8:9", [b"1:2:3:4:5:6:7:8", b"9"]),
    # host names and dotted names
    (b"for ns.marryaldkfaczcz.com [173.234.31.186] failed",
     [b"for", b"ns.marryaldkfaczcz.com", b"173.234.31.186", b"failed"]),
    (b"dfs.DataNode$PacketResponder: done.", [b"dfs.DataNode", b"PacketResponder", b"done"]),
    # paths
    (b"read /var/log/messages on /dev/pts/8 (./rel/x ~/y)",
     [b"read", b"/var/log/messages", b"on", b"/dev/pts/8", b"rel/x", b"y"]),
    (b"see http://example.com/a/b?x=1", [b"see", b"http", b"example.com/a/b", b"x", b"1"]),
    (b"//double/slash", [b"double/slash"]),
    # e-mail, Java
    (b"mail <john.doe@example.com>", [b"mail", b"john.doe@example.com"]),
    (b"[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774]",
     [b"myid", b"1", b"0:0:0:0:0:0:0:0", b"2181", b"FastLeaderElection@774"]),
    # UUID and hex ids
    (b"id 123e4567-e89b-12d3-a456-426614174000 flags 0x1f",
     [b"id", b"123e4567-e89b-12d3-a456-426614174000", b"flags", b"0x1f"]),
    (b"block blk_-6952295868487656571 terminating",
     [b"block", b"blk_-6952295868487656571", b"terminating"]),
    # key=value
    (b"logname= uid=0 euid=0 tty=NODEVssh rhost=218.188.2.4 ",
     [b"logname", b"uid", b"0", b"euid", b"0", b"tty", b"NODEVssh", b"rhost", b"218.188.2.4"]),
    # non-ASCII and invalid UTF-8 are word bytes
    ("café naïve".encode() + b" \xff\xfebad", ["café".encode(), "naïve".encode(), b"\xff\xfebad"]),
    (b"", []),
    (b" .,;:!? ", []),
]  # fmt: skip


@pytest.mark.parametrize("message, expected", EXAMPLES)
def test_examples(message: bytes, expected: list[bytes]) -> None:
    """
    The rule of the module docstring, on concrete messages.
    """
    assert tokenize.tokens(message) == expected
    assert b"".join(tokenize.split(message)) == message


def test_line_and_tokens() -> None:
    """
    L{tokenize.line_and_tokens} gives the gaps and the tokens.
    """
    assert tokenize.line_and_tokens(b"a=1 b") == ([b"", b"=", b" ", b""], [b"a", b"1", b"b"])


def check_invariants(message: bytes) -> None:
    parts = tokenize.split(message)
    gaps, tokens = parts[0::2], parts[1::2]
    # the message is rebuilt exactly
    assert b"".join(parts) == message
    assert len(gaps) == len(tokens) + 1
    for token in tokens:
        # tokens are not empty, hold no space, and hold a word byte
        assert token
        assert b" " not in token
        assert WORD.search(token)
    # gaps hold no word byte: every word byte is in a token
    for gap in gaps:
        assert not WORD.search(gap)
    # two tokens are separated by at least one byte
    for gap in gaps[1:-1]:
        assert gap
    # tokens are maximal: what follows a token cannot extend it
    for token, gap in zip(tokens, gaps[1:]):
        assert not (gap[:1] in (b".", b"-", b"/", b"@") and WORD.match(gap, 1))
    # the fast path cuts exactly like the full pattern
    assert tokenize._split_full(message) == parts


@given(strategies.messages(max_size=4096))
@example(b"a:::1 x::1 ::::1 fe80:: ::")
@example(b"\xff" * 3 + b"::" + b"a" * 5)
def test_invariants(message: bytes) -> None:
    """
    Any message: rebuilt exactly; tokens non-empty, without spaces, holding
    a word byte, maximal, separated by at least one byte; gaps without word
    bytes; the fast path agrees with the full pattern.
    """
    check_invariants(message)


@given(strategies.tokenizer_texts(60))
@settings(max_examples=500)
def test_invariants_edges(message: bytes) -> None:
    """
    The invariants hold on text made of the rule's awkward pieces.
    """
    check_invariants(message)


@given(st.binary(max_size=64))
def test_fast_path_condition(message: bytes) -> None:
    """
    Messages without C{::} and with fewer than 7 colons take the fast path
    and are cut as the full pattern cuts them.
    """
    assert tokenize.split(message) == tokenize._split_full(message)
    if b"::" not in message and message.count(b":") < 7:
        assert tokenize._split_simple(message) == tokenize._split_full(message)

"""Cut a message into word-like tokens and the text between them.

Pure code over bytes, no I/O.  A message is any bytes (invalid UTF-8, NUL,
empty); L{split} returns C{[gap0, token1, gap1, ..., tokenN, gapN]} and
C{b"".join(...)} of that list is the message again, byte for byte.

The rule (also in C{docs/format.md}, "Tokenizer"):

  - A B{word byte} is C{0-9 A-Z a-z _} or any byte C{>= 0x80} (so UTF-8
    letters, and invalid UTF-8, stay inside tokens unchanged).
  - A B{token} is a B{head} followed by any number of B{tails}; a tail is one
    connector byte C{. - / @} followed by one or more word bytes.  So
    C{ns.example.com}, C{218.188.2.4}, C{3.14}, C{2015-07-29}, UUIDs,
    C{blk_-6952295868487656571}, C{user@example.com},
    C{FastLeaderElection@774}, C{workers2.properties}, C{dev/pts/8} are one
    token each.  Any other byte (space, C{= : , ; ( ) [ ] < > " ' $ + *} ...)
    ends a token, so C{key=value} is two tokens C{key} and C{value}, and
    C{dfs.DataNode$PacketResponder} is C{dfs.DataNode} and C{PacketResponder}.
  - A B{head} is, first match wins:

      1. an IPv6 address: hex groups of 1 to 4 digits joined by single colons,
         either exactly 8 groups, or one C{::} with at most 7 groups on
         each side and at least one group in all (C{::1}, C{fe80::1},
         C{2001:db8::}, C{::ffff:10.0.0.1} through a C{.} tail), optionally
         followed by a zone C{%} and word bytes (C{fe80::1%eth0}); not
         followed by a word byte, and when it begins with C{::} not preceded
         by a word byte or a colon (C{[::1]:8080} gives C{::1} and C{8080};
         C{std::vector} gives C{std} and C{vector}; C{06:55:46} is three
         tokens; a lone C{::} is no token);
      2. C{-} followed by a digit, then word bytes: a negative number keeps
         its sign (C{-12}, C{-3.5}; C{a-12} is one token through a tail);
      3. C{/} followed by a non-digit word byte, not preceded by C{/}, C{.}
         or C{~}, then word bytes: an absolute path keeps its leading slash
         (C{/var/log/messages}, C{/dev/pts/8}), a relative one does not
         (C{./rel/x} gives C{rel/x}, C{~/y} gives C{y}); C{/10.0.0.1:50010}
         (as Java prints addresses) gives C{10.0.0.1} and C{50010}, and
         C{http://example.com/x} gives C{http} and C{example.com/x};
      4. one or more word bytes (hex ids such as C{0x1f} are plain words).

  - Tokens are found left to right, each as long as possible, and never
    overlap.

Consequences the codec relies on (tested):

  - a token is never empty, holds at least one word byte, and holds no
    byte other than word bytes and C{. - / @ : %} (so never a space);
  - every word byte of the message is inside a token, so the gaps contain no
    word bytes;
  - two tokens are always separated by at least one byte (the gaps between
    tokens are non-empty; only the first and the last gap may be empty).

Speed: the compiled hot path (L{logship.core.speedups}) cuts every message
in C, byte by byte, by the whole rule.  In pure Python: one compiled C{re} over bytes, C{split} with a capture group; no
per-byte Python loop.  Messages that cannot hold an IPv6 address (no C{::}
and fewer than 7 colons) use the same pattern without the IPv6 heads,
which cuts them identically and faster.
"""

from __future__ import annotations

import re

from logship.core import speedups

#: Word bytes, as a character class body (used in the rule above).
_W = rb"0-9A-Za-z_\x80-\xff"

_X = rb"[0-9A-Fa-f]"
_H = _X + rb"{1,4}+"
#: A zone, then no word byte may follow an IPv6 address.
_IPV6_END = rb"(?:%[" + _W + rb"]++)?+(?![" + _W + rb"])"

# Every pattern below starts with one character class (the first byte of a
# token), so that the regex engine scans for candidates in C; the branches
# then look behind at that byte.  Quantifiers are possessive: the rule never
# needs to backtrack, and possessive repeats are much faster in CPython.
_HEADS_SIMPLE = (
    # 4. word
    rb"(?<=[" + _W + rb"])[" + _W + rb"]*+"
    # 2. negative number
    rb"|(?<=-)(?=[0-9])[" + _W + rb"]++"
    # 3. absolute path
    rb"|(?<=/)(?<![/.~]/)(?=[A-Za-z_\x80-\xff])[" + _W + rb"]++"
)
_HEADS_IPV6 = (
    # 1a. IPv6 starting with a hex digit (that digit is already consumed)
    rb"(?<=[0-9A-Fa-f])(?=" + _X + rb"{0,3}+:)(?:"
    + _X + rb"{0,3}+:(?:" + _H + rb":){6}+" + _H
    + rb"|" + _X + rb"{0,3}+(?::" + _H + rb"){0,6}+::(?:" + _H + rb"(?::" + _H + rb"){0,6}+)?+"
    rb")" + _IPV6_END
    # 1b. IPv6 starting with "::" (one colon consumed), not after a word
    # byte or a colon
    + rb"|(?<=:)(?<![" + _W + rb":]:):" + _H + rb"(?::" + _H + rb"){0,6}+" + _IPV6_END
)
_TAILS = rb"(?:[-./@][" + _W + rb"]++)*+"

#: The token pattern (one capture group around the whole token).
TOKEN_PATTERN = (
    rb"([" + _W + rb":/-](?:" + _HEADS_IPV6 + rb"|" + _HEADS_SIMPLE + rb")" + _TAILS + rb")"
)

#: The same without the IPv6 heads: it cuts every message that has no "::"
#: and fewer than 7 colons exactly as L{TOKEN_PATTERN} does (an IPv6
#: address needs one or the other), and is faster.
TOKEN_PATTERN_NO_IPV6 = rb"([" + _W + rb"/-](?:" + _HEADS_SIMPLE + rb")" + _TAILS + rb")"

_split_full = re.compile(TOKEN_PATTERN).split
_split_simple = re.compile(TOKEN_PATTERN_NO_IPV6).split


def split(message: bytes) -> list[bytes]:
    """
    Cut C{message} into gaps and tokens.

    @param message: any bytes.
    @return: C{[gap0, token1, gap1, ..., tokenN, gapN]}; joined, they are
        the message.
    """
    if b"::" in message or message.count(b":") >= 7:
        return _split_full(message)
    return _split_simple(message)


def tokens(message: bytes) -> list[bytes]:
    """
    The tokens of C{message}, in order.

    @param message: any bytes.
    @return: the tokens (see the module docstring for the rule).
    """
    return split(message)[1::2]


def line_and_tokens(message: bytes) -> tuple[list[bytes], list[bytes]]:
    """
    The gaps (text between tokens) and the tokens of C{message}.

    @param message: any bytes.
    @return: C{(gaps, tokens)} with C{len(gaps) == len(tokens) + 1}; the
        message is C{gaps[0] + tokens[0] + gaps[1] + ... + gaps[-1]}.
    """
    parts = split(message)
    return parts[0::2], parts[1::2]


speedups.install(
    globals(), ("split",), lambda compiled: compiled.configure_tokenize(split)
)

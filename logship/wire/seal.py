"""Sealing frame bodies with NaCl: the handshake, session keys, counter nonces.

Pure code: bytes in, bytes out, no I/O and no clock.

Protocol steps (this layer only; C{docs/protocol.md} has the whole picture):

  1. Every frame until the handshake is done is a I{handshake frame}:
     L{MAGIC} (7 bytes), one mode byte, then the message body.  Mode
     L{SEALED} (1): the body is sealed with the 32-byte cluster key in a
     C{SecretBox} with a random 24-byte nonce, sent in front of the
     ciphertext (the format C{SecretBox.encrypt} produces).  Mode L{PLAIN}
     (0): the body follows in clear; only an explicitly insecure node sends
     or accepts it.  A sealed node meeting a plain frame, or an insecure node
     meeting a sealed one, fails with L{InsecureMismatch}: each side names
     the mismatch itself, since neither can read the other.
  2. Each side's hello carries a fresh random 32-byte value.  Once both
     hellos are known, each direction gets its own session key:
     C{BLAKE2b(client_random + server_random, key=cluster_key,
     person="logship-c2s" or "logship-s2c", digest_size=32)}.
  3. Every later frame is a I{session frame}: an 8-byte big-endian counter,
     then the body sealed with the direction's session key and the counter
     as nonce (24 bytes, big-endian, zero-padded on the left).  Counters
     start at 0 and grow by one per frame; the receiver requires exactly the
     next one, so a replayed, dropped or reordered frame is refused
     (L{BadCounter}).  A frame from another connection fails to open
     (L{OpenFailed}) because its session key differs.
  4. In insecure mode a session frame is just the body, in clear.
  5. Credential mode (L{KEYED}, 2): the handshake frames carry each side's
     L{Greeting <logship.wire.messages.Greeting>} in clear; the session
     keys come from an ephemeral X25519 exchange and the transcript
     (L{logship.wire.handshake}), and session frames are sealed as in
     step 3.  A node in credential mode and one using the cluster key (or
     none) refuse each other's handshake frames with L{ModeMismatch}.

A counter nonce is safe because each session key is used for one connection
and one direction only; the long-lived cluster key is only ever used with
random nonces.
"""

from __future__ import annotations

import enum
import struct
from typing import Protocol

from nacl.bindings import crypto_secretbox_easy, crypto_secretbox_open_easy
from nacl.encoding import RawEncoder
from nacl.exceptions import CryptoError
from nacl.hash import blake2b
from nacl.secret import SecretBox
from nacl.utils import random

from logship.wire import WireError

#: The first bytes of every handshake frame.
MAGIC = b"LOGSHIP"
#: Handshake mode byte: the body follows in clear (insecure nodes only).
PLAIN = 0x00
#: Handshake mode byte: the body is sealed with the cluster key.
SEALED = 0x01
#: Handshake mode byte: credential mode, the body (a greeting) in clear.
KEYED = 0x02

KEY_SIZE = SecretBox.KEY_SIZE  # 32
NONCE_SIZE = SecretBox.NONCE_SIZE  # 24
MAC_SIZE = SecretBox.MACBYTES  # 16
#: Size of the random value each hello carries.
RANDOM_SIZE = 32
#: Size of the counter in front of each session frame.
COUNTER_SIZE = 8
#: Bytes a sealed session frame adds to its body.
SESSION_OVERHEAD = COUNTER_SIZE + MAC_SIZE
#: Bytes a sealed handshake frame adds to its body.
HANDSHAKE_OVERHEAD = len(MAGIC) + 1 + NONCE_SIZE + MAC_SIZE

_PERSON_C2S = b"logship-c2s"
_PERSON_S2C = b"logship-s2c"
_COUNTER = struct.Struct(">Q")
_COUNTER_LIMIT = 1 << 64
_NONCE_PAD = bytes(NONCE_SIZE - COUNTER_SIZE)


class Side(enum.Enum):
    """
    Which end of a connection a node is: the client dials and speaks first.
    """

    CLIENT = "client"
    SERVER = "server"


class SealError(WireError):
    """
    A frame cannot be opened; the connection must close.
    """

    code = "bad-seal"


class NotLogship(SealError):
    """
    A handshake frame does not start with L{MAGIC} and a known mode byte.
    """

    code = "not-logship"


class InsecureMismatch(SealError):
    """
    One side seals its frames and the other is insecure (lab mode).
    """

    code = "insecure-mismatch"


class ModeMismatch(SealError):
    """
    One side uses per-node credentials and the other the cluster key (or
    no key).
    """

    code = "credential-mismatch"


class OpenFailed(SealError):
    """
    A sealed frame fails to open: a different key, or a changed byte.
    """

    code = "bad-seal"


class BadCounter(SealError):
    """
    A session frame does not carry the next expected counter: it was
    replayed, reordered, or one was lost.
    """

    code = "bad-counter"


def check_key(key: bytes | None) -> bytes | None:
    """
    Validate a cluster key: 32 bytes, or C{None} for insecure mode.

    @return: C{key}.
    @raise ValueError: if it is neither.
    """
    if key is not None and (not isinstance(key, bytes) or len(key) != KEY_SIZE):
        raise ValueError(f"a cluster key is {KEY_SIZE} bytes (or None for insecure)")
    return key


def new_random() -> bytes:
    """
    A fresh random value for a hello (L{RANDOM_SIZE} bytes).
    """
    return random(RANDOM_SIZE)


def seal_handshake(key: bytes | None, body: bytes) -> bytes:
    """
    Build a handshake frame body: magic, mode, then C{body} sealed with the
    cluster key and a random nonce (or in clear when C{key} is C{None}).

    @param key: the cluster key, or C{None} in insecure mode.
    @param body: an encoded message (a hello, or an error).
    """
    if key is None:
        return MAGIC + bytes((PLAIN,)) + body
    return MAGIC + bytes((SEALED,)) + bytes(SecretBox(key).encrypt(body))


def keyed_handshake(body: bytes) -> bytes:
    """
    Build a credential-mode handshake frame body: magic, L{KEYED}, then
    C{body} in clear (a greeting, or an error).
    """
    return MAGIC + bytes((KEYED,)) + body


def open_handshake(key: bytes | None, frame: bytes, keyed: bool = False) -> bytes:
    """
    Open a handshake frame built by L{seal_handshake} or L{keyed_handshake}.

    @param key: this node's cluster key, or C{None} in insecure or
        credential mode.
    @param frame: the frame body as received.
    @param keyed: this node is in credential mode.
    @return: the encoded message inside.
    @raise NotLogship: if the frame does not start with the magic and a
        known mode.
    @raise ModeMismatch: if one side is in credential mode and the other
        is not.
    @raise InsecureMismatch: if the frame's mode does not match C{key}.
    @raise OpenFailed: if it does not open with C{key}.
    """
    head = len(MAGIC)
    if (
        len(frame) <= head
        or frame[:head] != MAGIC
        or frame[head] not in (PLAIN, SEALED, KEYED)
    ):
        raise NotLogship("not a logship handshake frame")
    mode = frame[head]
    if keyed != (mode == KEYED):
        raise ModeMismatch(
            "the peer uses per-node credentials and this node the shared cluster"
            " key (or none)"
            if not keyed
            else "the peer uses the shared cluster key (or none) and this node"
            " per-node credentials"
        )
    if keyed:
        return frame[head + 1 :]
    if key is None:
        if mode != PLAIN:
            raise InsecureMismatch(
                "the peer seals its frames and this node is insecure (lab mode);"
                " configure the same setting on both"
            )
        return frame[head + 1 :]
    if mode != SEALED:
        raise InsecureMismatch(
            "the peer is insecure (sends plaintext) and this node requires"
            " sealed frames; configure the same setting on both"
        )
    try:
        return SecretBox(key).decrypt(frame[head + 1 :])
    except CryptoError:
        raise OpenFailed(
            "the handshake does not open with this node's cluster key"
            " (a different key, or the frame was changed)"
        ) from None


def derive_session_keys(
    cluster_key: bytes, client_random: bytes, server_random: bytes
) -> tuple[bytes, bytes]:
    """
    The two session keys of one connection.

    @param cluster_key: the shared cluster key.
    @param client_random: the random value of the client's hello.
    @param server_random: the random value of the server's hello.
    @return: C{(client_to_server, server_to_client)}, 32 bytes each.
    """
    material = client_random + server_random
    return (
        blake2b(
            material,
            digest_size=KEY_SIZE,
            key=cluster_key,
            person=_PERSON_C2S,
            encoder=RawEncoder,
        ),
        blake2b(
            material,
            digest_size=KEY_SIZE,
            key=cluster_key,
            person=_PERSON_S2C,
            encoder=RawEncoder,
        ),
    )


class FrameSealer(Protocol):
    """
    Seals the bodies of one direction of one connection, in order.
    """

    def seal(self, body: bytes) -> bytes:
        """
        @return: the frame body to send.
        """


class FrameOpener(Protocol):
    """
    Opens the bodies of one direction of one connection, in order.
    """

    def open(self, frame: bytes) -> bytes:
        """
        @return: the body inside C{frame}.
        @raise SealError: if C{frame} must not be accepted.
        """


class CounterSealer:
    """
    Seals session frames with one session key and counter nonces from 0.
    """

    def __init__(self, key: bytes) -> None:
        """
        @param key: the session key of this direction (never the cluster key).
        """
        self._key = key
        self._next = 0

    def seal(self, body: bytes) -> bytes:
        """
        Seal C{body} as the next session frame.

        @return: the 8-byte counter followed by the sealed body.
        """
        counter = self._next
        if counter >= _COUNTER_LIMIT:  # pragma: no cover - 2**64 frames
            raise OverflowError("session counter exhausted; reconnect")
        self._next = counter + 1
        prefix = _COUNTER.pack(counter)
        return prefix + crypto_secretbox_easy(body, _NONCE_PAD + prefix, self._key)


class CounterOpener:
    """
    Opens session frames sealed by the peer's L{CounterSealer}.
    """

    def __init__(self, key: bytes) -> None:
        """
        @param key: the session key of this direction.
        """
        self._key = key
        self._next = 0

    def open(self, frame: bytes) -> bytes:
        """
        Open the next session frame.

        @raise BadCounter: if its counter is not the next one.
        @raise OpenFailed: if it does not open (another session's frame, or
            a changed byte).
        """
        if len(frame) < SESSION_OVERHEAD:
            raise OpenFailed(f"session frame of {len(frame)} bytes is too short")
        (counter,) = _COUNTER.unpack_from(frame)
        if counter != self._next:
            raise BadCounter(
                f"frame counter {counter}, expected {self._next}"
                " (replayed, reordered or lost frame)"
            )
        try:
            body = crypto_secretbox_open_easy(
                frame[COUNTER_SIZE:], _NONCE_PAD + frame[:COUNTER_SIZE], self._key
            )
        except CryptoError:
            raise OpenFailed(
                f"session frame {counter} does not open"
                " (a changed byte, or a frame of another connection)"
            ) from None
        self._next = counter + 1
        return body


class PlainSealer:
    """
    Insecure mode: bodies are sent as they are.
    """

    def seal(self, body: bytes) -> bytes:
        return body


class PlainOpener:
    """
    Insecure mode: bodies are received as they are.
    """

    def open(self, frame: bytes) -> bytes:
        return frame


def session(
    key: bytes | None, side: Side, client_random: bytes, server_random: bytes
) -> tuple[FrameSealer, FrameOpener]:
    """
    The sealer and opener one side uses once the handshake is done.

    @param key: the cluster key, or C{None} in insecure mode.
    @param side: which end this node is.
    @param client_random: the random value of the client's hello.
    @param server_random: the random value of the server's hello.
    @return: C{(sealer for what this side sends, opener for what it
        receives)}.
    """
    if key is None:
        return PlainSealer(), PlainOpener()
    c2s, s2c = derive_session_keys(key, client_random, server_random)
    return counter_session(side, c2s, s2c)


def counter_session(
    side: Side, client_to_server: bytes, server_to_client: bytes
) -> tuple[FrameSealer, FrameOpener]:
    """
    The sealer and opener of one side, given the two session keys.

    @return: C{(sealer for what this side sends, opener for what it
        receives)}.
    """
    if side is Side.CLIENT:
        return CounterSealer(client_to_server), CounterOpener(server_to_client)
    return CounterSealer(server_to_client), CounterOpener(client_to_server)

"""The credential handshake's cryptography: ephemeral keys, transcript, session keys, proofs.

Pure code, no I/O and no clock.

Protocol steps (credential mode only; C{docs/protocol.md} section 4 has
the whole picture):

  1. Each side makes a fresh X25519 key pair for the connection
     (L{Ephemeral}) and sends its public half in a L{Greeting
     <logship.wire.messages.Greeting>}: the client first, the server in
     answer.
  2. The I{transcript} is C{BLAKE2b-256(person="logship-th")} over both
     greetings' encoded bodies, each prefixed by its 4-byte length, the
     client's first (L{transcript}).
  3. Both sides compute the X25519 shared secret (refusing an all-zero
     one: a low-order point) and derive one session key per direction:
     C{BLAKE2b-256(transcript, key=shared, person="logship-kc2s"|"logship-ks2c")}
     (L{session_keys}).  The ephemeral secrets are then dropped: recorded
     traffic cannot be decrypted later, even with every long-lived key
     (forward secrecy).
  4. Each side's first session frame is an L{Identify
     <logship.wire.messages.Identify>}: its credential, and its node
     key's signature of C{"logship-identify-1" NUL side transcript},
     C{side} being C{"C"} or C{"S"} (L{proof_message}).  The signature
     binds the credential to this connection's keys: it cannot be
     replayed on another connection, nor reflected to its sender.
"""

from __future__ import annotations

import struct

from nacl.bindings import crypto_scalarmult
from nacl.encoding import RawEncoder
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.hash import blake2b
from nacl.public import PrivateKey
from nacl.signing import VerifyKey

from logship.wire.seal import KEY_SIZE, SealError, Side

_PERSON_TRANSCRIPT = b"logship-th"
_PERSON_C2S = b"logship-kc2s"
_PERSON_S2C = b"logship-ks2c"
_PROOF_CONTEXT = b"logship-identify-1\x00"
_LENGTH = struct.Struct(">I")
_ZERO = bytes(32)


class BadKeyExchange(SealError):
    """
    The peer's ephemeral key gives no secret (a low-order point), or it
    sent back this node's own key.
    """

    code = "bad-key-exchange"


class BadProof(SealError):
    """
    The peer's signature over the transcript is wrong: it does not hold the
    node key of the credential it presents (or presents it on another
    connection).
    """

    code = "bad-proof"


class Ephemeral:
    """
    One side's X25519 key pair for one connection.

    @ivar public: the 32-byte public key, sent in the greeting.
    """

    def __init__(self) -> None:
        self._secret = PrivateKey.generate()
        self.public = bytes(self._secret.public_key)

    def shared(self, peer_public: bytes) -> bytes:
        """
        The X25519 secret shared with the peer.

        @raise BadKeyExchange: if the peer's key is this side's own, or
            gives an all-zero secret.
        """
        if peer_public == self.public:
            raise BadKeyExchange("the peer sent back this node's own ephemeral key")
        try:
            secret = crypto_scalarmult(bytes(self._secret), peer_public)
        except CryptoError:  # libsodium refuses an all-zero result
            secret = _ZERO
        if secret == _ZERO:
            raise BadKeyExchange("the peer's ephemeral key is a low-order point")
        return secret


def transcript(client_greeting: bytes, server_greeting: bytes) -> bytes:
    """
    The handshake transcript (32 bytes) of the two greetings' bodies.
    """
    material = (
        _LENGTH.pack(len(client_greeting))
        + client_greeting
        + _LENGTH.pack(len(server_greeting))
        + server_greeting
    )
    return blake2b(material, digest_size=32, person=_PERSON_TRANSCRIPT, encoder=RawEncoder)


def session_keys(shared: bytes, th: bytes) -> tuple[bytes, bytes]:
    """
    The two session keys of a connection.

    @param shared: the X25519 shared secret.
    @param th: the transcript.
    @return: C{(client_to_server, server_to_client)}, 32 bytes each.
    """
    return (
        blake2b(th, digest_size=KEY_SIZE, key=shared, person=_PERSON_C2S, encoder=RawEncoder),
        blake2b(th, digest_size=KEY_SIZE, key=shared, person=_PERSON_S2C, encoder=RawEncoder),
    )


def proof_message(side: Side, th: bytes) -> bytes:
    """
    What a side signs with its node key to prove its credential.
    """
    label = b"C" if side is Side.CLIENT else b"S"
    return _PROOF_CONTEXT + label + th


def check_proof(node_key: bytes, side: Side, th: bytes, proof: bytes) -> None:
    """
    Check a peer's proof.

    @param node_key: the verify key of the peer's credential.
    @param side: the peer's side.
    @raise BadProof: if the signature is wrong.
    """
    try:
        VerifyKey(node_key).verify(proof_message(side, th), proof)
    except (BadSignatureError, CryptoError, ValueError):
        raise BadProof(
            "the proof does not verify with the credential's node key"
        ) from None

"""Messages: msgspec Structs registered by name; the wire is plain MessagePack.

A frame on the wire is one MessagePack array of runs, each run an array
`[from_pid, to_name, message_name, [body, ...]]`: consecutive messages of one type
between one pair of processes share a run, and each body is the struct as a map.
Batching many messages into one frame is what makes the transport fast (1.1-1.6M
messages/s against ~460k one-per-frame, see DESIGN.md), and a run's bodies decode
in one call of a typed decoder. Any MessagePack library can read and write it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from libprocess.pid import PID

# [from_pid, to_name, message_name, bodies]: bodies stay raw until their type is known.
Run = tuple[str, str, str, msgspec.Raw]
# Raw bytes of resent-whole messages a codec remembers, at most (see Codec.decode_resent).
RESENT_BYTES_MAX = 64 * 1024 * 1024


class Message(msgspec.Struct, frozen=True, gc=False):
    """Base of every message. Subclasses register themselves under their class name.

    Messages are frozen: a message is a value, shared by every process it reaches.
    Being values, they cannot take part in a reference cycle, so the garbage
    collector does not track them (`gc=False`, inherited): a burst of messages
    held in memory then costs the collector nothing. (10,000 agents
    re-registering with a new master are half a million objects; tracked, the
    collector's full passes over them cost more than decoding them.)

    Evolve schemas safely: new fields get defaults, a field's type never changes.
    """

    registry: ClassVar[dict[str, type[Message]]] = {}
    # Its senders send it again, byte for byte, until answered (a registration): a
    # node then does not decode a sender's unchanged resend again (Codec.decode_resent).
    resent: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__name__
        known = Message.registry.get(name)
        if known is not None and (known.__module__, known.__qualname__) != (
            cls.__module__,
            cls.__qualname__,
        ):
            raise TypeError(
                f"message name {name!r} is taken by {known.__module__}.{known.__qualname__}"
            )
        Message.registry[name] = cls


def _encode_hook(value: Any) -> Any:
    if isinstance(value, PID):
        return str(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


def _decode_hook(kind: type, value: Any) -> Any:
    if kind is PID:
        if not isinstance(value, str):
            raise msgspec.ValidationError("a PID must be a string")
        try:
            return PID.parse(value)
        except ValueError as error:
            raise msgspec.ValidationError(str(error)) from None
    raise NotImplementedError(f"cannot decode {kind.__name__}")


class Codec:
    """Encodes batches of envelopes into frames and decodes them back, validating types."""

    def __init__(self) -> None:
        self._encoder = msgspec.msgpack.Encoder(enc_hook=_encode_hook)
        self._frame_decoder = msgspec.msgpack.Decoder(list[Run])
        self._raw_bodies = msgspec.msgpack.Decoder(list[msgspec.Raw])
        self.decoders: dict[
            str, msgspec.msgpack.Decoder[list[Message]]
        ] = {}  # name -> list[type] decoder
        self._single: dict[str, msgspec.msgpack.Decoder[Message]] = {}
        self.resent_names: set[str] = set()  # names of the message types marked `resent`
        # (sender, name) -> the last run of resent messages decoded from it, raw and
        # decoded; oldest first, at most RESENT_BYTES_MAX raw bytes in all.
        self._resent: dict[tuple[str, str], tuple[bytes, list[Message]]] = {}
        self._resent_bytes = 0

    def encode_frame(self, runs: list[list[Any]]) -> bytes:
        """`runs`: lists `[from_pid, to_name, message_name, [message, ...]]`."""
        return self._encoder.encode(runs)

    def decode_frame(self, frame: bytes | memoryview) -> list[Run]:
        """Split a frame into runs; raises msgspec.DecodeError on a malformed frame."""
        return self._frame_decoder.decode(frame)

    def decoder_for(self, name: str) -> msgspec.msgpack.Decoder[list[Message]] | None:
        """The decoder of a run of messages `name`, or None if no such message exists."""
        decoder = self.decoders.get(name)
        if decoder is None:
            kind = Message.registry.get(name)
            if kind is None:
                return None
            decoder = msgspec.msgpack.Decoder(list[kind], dec_hook=_decode_hook)  # type: ignore[valid-type]
            self.decoders[name] = decoder
            if kind.resent:
                self.resent_names.add(name)
        return decoder

    def decode_resent(
        self,
        sender: str,
        name: str,
        decoder: msgspec.msgpack.Decoder[list[Message]],
        bodies: msgspec.Raw,
    ) -> tuple[list[Message], bool]:
        """Decode a run of a `resent` message type; (messages, whether it was a resend).

        A run byte-identical to the last one of that type from that sender gives
        back the very messages decoded then (they are frozen values): a new leader
        that ten thousand agents resend 4 KB re-registrations to decodes each
        (~40 us) once. Raises what `decoder.decode` raises.
        """
        key = (sender, name)
        raw = bytes(bodies)
        known = self._resent.get(key)
        if known is not None and known[0] == raw:
            return list(known[1]), True
        messages = decoder.decode(raw)
        if known is not None:
            del self._resent[key]
            self._resent_bytes -= len(known[0])
        self._resent[key] = (raw, messages)
        self._resent_bytes += len(raw)
        while self._resent_bytes > RESENT_BYTES_MAX:
            oldest = next(iter(self._resent))
            self._resent_bytes -= len(self._resent.pop(oldest)[0])
        return messages, False

    def decode_one_by_one(self, name: str, bodies: msgspec.Raw) -> tuple[list[Message], list[str]]:
        """Decode a run body by body: the good messages, and an error for each bad one.

        The slow path, for a run that failed to decode whole: one bad message must
        not cost the good ones beside it.
        """
        decoder = self._single.get(name)
        if decoder is None:
            decoder = msgspec.msgpack.Decoder(Message.registry[name], dec_hook=_decode_hook)
            self._single[name] = decoder
        messages: list[Message] = []
        errors: list[str] = []
        try:
            raw_bodies = self._raw_bodies.decode(bodies)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            return messages, [str(error)]
        for body in raw_bodies:
            try:
                messages.append(decoder.decode(body))
            except (msgspec.DecodeError, msgspec.ValidationError) as error:
                errors.append(str(error))
        return messages, errors

"""Messages: msgspec Structs registered by name; the wire is plain MessagePack.

A frame on the wire is one MessagePack array of envelopes, each envelope an array
`[from_pid, to_name, message_name, body]` where `body` is the struct as a map.
Batching many envelopes into one frame is what makes the transport fast (1.1-1.6M
messages/s against ~460k one-per-frame, see DESIGN.md); any MessagePack library can
read and write it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from libprocess.pid import PID

Envelope = tuple[str, str, str, msgspec.Raw]


class Message(msgspec.Struct):
    """Base of every message. Subclasses register themselves under their class name.

    Evolve schemas safely: new fields get defaults, a field's type never changes.
    """

    registry: ClassVar[dict[str, type[Message]]] = {}

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
        self._frame_decoder = msgspec.msgpack.Decoder(list[Envelope])
        self._decoders: dict[str, msgspec.msgpack.Decoder] = {}

    def encode_frame(self, envelopes: list[tuple[str, str, str, Message]]) -> bytes:
        return self._encoder.encode(envelopes)

    def encode(self, value: Any) -> bytes:
        return self._encoder.encode(value)

    def decode_frame(self, frame: bytes | memoryview) -> list[Envelope]:
        """Split a frame into envelopes; raises msgspec.DecodeError on a malformed frame."""
        return self._frame_decoder.decode(frame)

    def decode_body(self, name: str, body: msgspec.Raw) -> Message:
        """Decode one message body; KeyError for an unknown name, msgspec errors for bad fields."""
        decoder = self._decoders.get(name)
        if decoder is None:
            decoder = msgspec.msgpack.Decoder(Message.registry[name], dec_hook=_decode_hook)
            self._decoders[name] = decoder
        return decoder.decode(body)

"""Server frames are framed by the gateway itself: they must be what any RFC 6455 client
reads. Checked with wsproto's client-side parser (an implementation independent of ours)."""
import json

import pytest
from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import TextMessage

from chatsvc.gateway import codec


def client_reads(wire: bytes) -> list[str]:
    client = Connection(ConnectionType.CLIENT)
    client.receive_data(wire)
    texts, parts = [], []
    for event in client.events():
        assert isinstance(event, TextMessage), event
        parts.append(event.data)
        if event.message_finished:
            texts.append("".join(parts))
            parts = []
    return texts


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
def test_every_payload_length_encoding_reads_back(size):
    payload = ("é" * size).encode()[:size] if size % 2 == 0 else b"x" * size
    text = payload.decode()
    assert client_reads(codec.text_frame(payload)) == [text]


def test_encoded_frames_concatenate_into_a_stream():
    frames = [{"type": "pong", "ref": str(i)} for i in range(3)] + \
             [{"type": "message", "message": {"body": "héllo 🌍 <b>" * 50, "id": "9223372036854775807"}}]
    wire = b"".join(codec.encode(f) for f in frames)
    assert [json.loads(t) for t in client_reads(wire)] == frames

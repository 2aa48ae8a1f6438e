"""No 500 on any WebSocket frame (issue 16): hypothesis generates frames of every client
type (real ids, wrong types, missing and extra fields, hostile strings, nested values) and
raw text that is not a frame at all. Every frame with a ``ref`` gets a documented answer
(never ``internal_error``), and the connection stays open: a ping still answers.

Budget: CHATSVC_FUZZ_EXAMPLES examples per frame type (default 8), fixed seed
(CHATSVC_FUZZ_SEED), as tests/test_fuzz_rest.py.
"""
import json
import os
import uuid

import hypothesis
import pytest
import websocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ServerProcess
from tests.helpers import WS, Api, send, team_with_chat

EXAMPLES = int(os.environ.get("CHATSVC_FUZZ_EXAMPLES", "8"))
SEED = int(os.environ.get("CHATSVC_FUZZ_SEED", "16"))
CODES = {"bad_request", "unauthorized", "forbidden", "not_found", "conflict", "too_large",
         "rate_limited", "unavailable"}
ANSWERS = {"send": "ack", "like": "ok", "unlike": "ok", "read": "ok", "delete": "ok",
           "edit": "ok", "react": "ok", "unreact": "ok", "typing": None, "ping": "pong",
           "auth": "ok"}
FIELDS = ["chat_id", "message_id", "body", "client_msg_id", "emoji", "for", "thread_id",
          "also_in_chat", "file_ids", "token"]


@pytest.fixture(scope="module")
def fuzz_server(engine_url, index_prefix):
    srv = ServerProcess(engine_url, index_prefix, frame_rate=100000, frame_burst=100000,
                        send_rate=100000, send_burst=100000).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def world(fuzz_server):
    t = team_with_chat(Api(fuzz_server.url), "ann", "bob")
    message = send(t["ann"], t["chat_id"], "fuzz me")
    return {"token": t["ann"]["token"], "chat_id": t["chat_id"], "message_id": message["id"]}


def values(world):
    """Anything a field might hold: real ids, near misses, wrong types, hostile text."""
    scalars = st.one_of(
        st.sampled_from([world["chat_id"], world["message_id"], "0", "-1", "9" * 30, "",
                         " ", "👍", "🎉", "me", "everyone", "x" * 300, "\u0000", "\ud800",
                         "1e400", "NaN"]),
        st.text(max_size=40), st.integers(), st.floats(allow_nan=True), st.booleans(), st.none())
    return st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                        max_leaves=8)


def frames(world, kind):
    fields = st.dictionaries(st.sampled_from(FIELDS), values(world), max_size=6)
    return fields.map(lambda f: {**f, "type": kind})


def check_answer(ws: WS, frame: dict):
    """Send ``frame`` with a fresh ref; its answer must be documented; then a ping answers."""
    ref = uuid.uuid4().hex
    ws.send(json.dumps({**frame, "ref": ref}, allow_nan=True))
    expected = ANSWERS.get(frame["type"])
    # The answer carries the ref; a frame the JSON parser refuses (a lone surrogate
    # escape) is answered by an error without one, since its ref could not be read.
    def answered():
        return ws.first_unseen(lambda f: f.get("ref") == ref or
                               (f.get("type") == "error" and "ref" not in f))
    try:
        answer = ws.read_until(answered, 2 if expected is None else 15, "an answer")
    except TimeoutError:
        assert expected is None, f"no answer to {frame}"   # only a valid typing frame is silent
        answer = None
    if answer is not None:
        if answer["type"] == "error":
            assert answer["code"] in CODES, (frame, answer)
            assert isinstance(answer["message"], str) and answer["message"], answer
        else:
            assert answer["type"] == expected, (frame, answer)
            if expected == "ack":
                assert answer["message"]["id"] and answer["message"]["chat_id"], answer
    assert ws.request({"type": "ping"})["type"] == "pong", f"connection lost after {frame}"


@pytest.mark.parametrize("kind", sorted(ANSWERS) + ["no-such-type"])
def test_every_frame_type_answers_as_documented(fuzz_server, world, kind):
    ws = WS(fuzz_server.url, world["token"])
    try:
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), phases=[hypothesis.Phase.generate])
        @hypothesis.seed(SEED)
        @given(frame=frames(world, kind))
        def run(frame):
            check_answer(ws, frame)
        run()
    finally:
        ws.close()


def test_text_that_is_not_a_frame(fuzz_server, world):
    ws = WS(fuzz_server.url, world["token"])
    try:
        @settings(max_examples=EXAMPLES * 3, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), phases=[hypothesis.Phase.generate])
        @hypothesis.seed(SEED)
        @given(text=st.one_of(st.text(max_size=200), st.just("[" * 5000),
                              st.just('{"type":' * 3000), st.just('{"type": "send", "ref": 5}'),
                              st.builds(json.dumps, values(world))))
        def run(text):
            ws.send(text)
            assert ws.request({"type": "ping"})["type"] == "pong", f"connection lost after {text!r}"
            errors = [f for f in ws.frames if f.get("type") == "error"]
            assert all(f["code"] in CODES for f in errors), errors[-3:]
        run()
    finally:
        ws.close()


def test_binary_frames_and_frames_before_auth(fuzz_server, world):
    ws = WS(fuzz_server.url, auth=False)
    try:
        for frame in ({"type": "send", "chat_id": world["chat_id"], "body": "x", "client_msg_id": "a"},
                      {"type": "auth"}, {"type": "auth", "token": 5}, {"type": "ping"}):
            ws.send(frame)
            assert ws.wait("error")["code"] in ("unauthorized", "bad_request")
        ws.sock.send_binary(b"\x00\xff binary")
        assert ws.wait("error")["code"] == "bad_request"
        ws.send({"type": "auth", "token": world["token"]})
        assert ws.wait("ready")["user"]["username"] == "ann"
    finally:
        ws.close()


def test_a_frame_over_the_limit_in_bytes_closes_with_1009(fuzz_server, world):
    """The limit counts bytes: 30,000 three-byte characters are 90,000 bytes > 64 KiB."""
    ws = WS(fuzz_server.url, world["token"])
    ws.send(json.dumps({"type": "send", "chat_id": world["chat_id"], "client_msg_id": "big",
                        "body": "€" * 30000}, ensure_ascii=False))
    assert ws.wait_close() == 1009
    # a frame under the limit in bytes is served
    ws = WS(fuzz_server.url, world["token"])
    try:
        answer = ws.request({"type": "send", "chat_id": world["chat_id"], "client_msg_id": uuid.uuid4().hex,
                             "body": "€" * 3000})
        assert answer["type"] == "ack", answer
    finally:
        ws.close()

"""Bad input to the message endpoints and frames: 400 `bad_request` naming the fields, 404
for ids that name nothing, never a 500, and over WebSocket an `error` frame after which
the connection keeps working."""
import uuid

import pytest

from tests.conftest import ServerProcess
from tests.helpers import WS, Api, bad_request, history, not_found, post_message, send, team_with_chat, ws_refused

MAX = 10_000


@pytest.fixture
def pair(team_with_chat, server):
    msg = send(team_with_chat["ann"], team_with_chat["chat_id"], "first", "first")
    ws = WS(server.url, team_with_chat["ann"]["token"])
    yield {**team_with_chat, "msg": msg, "ws": ws}
    ws.close()


def post(p, body, client_msg_id=None):
    return post_message(p["ann"], p["chat_id"], body, client_msg_id)


def history_ids(p):
    return [m["id"] for m in history(p["bob"], p["chat_id"], limit=200)["messages"]]


BAD_BODIES = ["", "   ", " \n\t \r\n ", "x" * (MAX + 1), "  " + "y" * (MAX + 1) + "  "]


@pytest.mark.parametrize("body", BAD_BODIES, ids=["empty", "spaces", "whitespace", "oversize", "oversize-padded"])
def test_bad_bodies_are_refused_over_rest(pair, body):
    bad_request(post(pair, body), "body")
    assert history_ids(pair) == [pair["msg"]["id"]]


def test_body_limits_count_characters_after_trimming(pair):
    ann, chat_id = pair["ann"], pair["chat_id"]
    assert send(ann, chat_id, "z" * MAX)["body"] == "z" * MAX
    assert send(ann, chat_id, "\n  " + "w" * MAX + "  \t")["body"] == "w" * MAX
    # Characters, not bytes: 10,000 two-byte characters fit.
    send(ann, chat_id, "é" * MAX)
    assert send(ann, chat_id, "  hi there \n")["body"] == "hi there"
    page = history(pair["bob"], chat_id)["messages"]
    assert [m["body"] for m in page[1:]] == ["z" * MAX, "w" * MAX, "é" * MAX, "hi there"]


@pytest.mark.parametrize("payload,field", [
    ({"client_msg_id": "no-body"}, "body"),
    ({"body": None, "client_msg_id": "null-body"}, "body"),
    ({"body": 42, "client_msg_id": "number-body"}, "body"),
    ({"body": ["x"], "client_msg_id": "list-body"}, "body"),
    ({"body": "no id"}, "client_msg_id"),
    ({"body": "x", "client_msg_id": ""}, "client_msg_id"),
    ({"body": "x", "client_msg_id": "a" * 65}, "client_msg_id"),
    ({"body": "x", "client_msg_id": "has space"}, "client_msg_id"),
    ({"body": "x", "client_msg_id": "ünïcödé"}, "client_msg_id"),
    ({"body": "x", "client_msg_id": "semi;colon"}, "client_msg_id"),
    ({"body": "x", "client_msg_id": 12345}, "client_msg_id"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_send_payloads_are_refused(pair, payload, field):
    r = pair["ann"]["api"].post(f"/api/chats/{pair['chat_id']}/messages", json=payload)
    bad_request(r, field)
    assert history_ids(pair) == [pair["msg"]["id"]]


def test_non_json_bodies_are_refused(pair):
    url = f"/api/chats/{pair['chat_id']}/messages"
    bad_request(pair["ann"]["api"].post(url, data="not json", headers={"Content-Type": "application/json"}))
    bad_request(pair["ann"]["api"].post(url, json=["body", "x"]))
    assert history_ids(pair) == [pair["msg"]["id"]]


def test_longest_client_msg_id_is_accepted(pair):
    for cmid in ("a" * 64, "A-z_0-9", "x"):
        assert send(pair["ann"], pair["chat_id"], "ok", cmid)["client_msg_id"] == cmid


@pytest.mark.parametrize("params,field", [
    ({"before": "abc"}, "before"), ({"before": "-1"}, "before"), ({"before": "0"}, "before"),
    ({"before": "1.5"}, "before"), ({"before": "99999999999999999999999"}, "before"),
    ({"after": "xyz"}, "after"), ({"after": "-5"}, "after"),
    ({"limit": "0"}, "limit"), ({"limit": "201"}, "limit"), ({"limit": "abc"}, "limit"),
    ({"limit": "-1"}, "limit"),
], ids=lambda v: "&".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else None)
def test_malformed_cursors_and_limits(pair, params, field):
    r = pair["ann"]["api"].get(f"/api/chats/{pair['chat_id']}/messages", params=params)
    bad_request(r, field)


def test_limit_bounds_are_inclusive(pair):
    for limit in ("1", "200"):
        r = pair["ann"]["api"].get(f"/api/chats/{pair['chat_id']}/messages", params={"limit": limit})
        assert r.status_code == 200, r.text
        assert [m["id"] for m in r.json()["messages"]] == [pair["msg"]["id"]]


@pytest.mark.parametrize("params,field", [
    ({"before": "101"}, "before"), ({"after": "101"}, "after"), ({"before": "-1"}, "before"),
    ({"after": "many"}, "after"),
], ids=lambda v: "&".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else None)
def test_malformed_context_counts(pair, params, field):
    r = pair["ann"]["api"].get(f"/api/messages/{pair['msg']['id']}/context", params=params)
    bad_request(r, field)
    r = pair["ann"]["api"].get(f"/api/messages/{pair['msg']['id']}/context", params={"before": 100, "after": 100})
    assert r.status_code == 200 and [m["id"] for m in r.json()["messages"]] == [pair["msg"]["id"]]


def test_unknown_chat_and_message_ids(pair):
    a = pair["ann"]["api"]
    unknown_chat = str(int(pair["chat_id"]) + 1)
    unknown_msg = str(int(pair["msg"]["id"]) + 1)
    for chat_id in (unknown_chat, "abc", "0", "99999999999999999999999"):
        not_found(a.get(f"/api/chats/{chat_id}"))
        not_found(a.get(f"/api/chats/{chat_id}/messages"))
        not_found(a.post(f"/api/chats/{chat_id}/messages", json={"body": "x", "client_msg_id": "x1"}))
        not_found(a.post(f"/api/chats/{chat_id}/read", json={"message_id": pair["msg"]["id"]}))
        not_found(a.post(f"/api/chats/{chat_id}/leave"))
    for message_id in (unknown_msg, "abc", "0", "-3", "99999999999999999999999"):
        not_found(a.put(f"/api/messages/{message_id}/like"))
        not_found(a.delete(f"/api/messages/{message_id}/like"))
        not_found(a.get(f"/api/messages/{message_id}/context"))
        not_found(a.delete(f"/api/messages/{message_id}", params={"for": "me"}))
        not_found(a.delete(f"/api/messages/{message_id}", params={"for": "everyone"}))
    # A real message read in the wrong chat, or an unknown one in the right chat.
    not_found(a.post(f"/api/chats/{pair['chat_id']}/read", json={"message_id": unknown_msg}))
    bad_request(a.post(f"/api/chats/{pair['chat_id']}/read", json={"message_id": "abc"}), "message_id")
    bad_request(a.post(f"/api/chats/{pair['chat_id']}/read", json={}), "message_id")
    # Delete needs a valid scope.
    bad_request(a.delete(f"/api/messages/{pair['msg']['id']}"), "for")
    bad_request(a.delete(f"/api/messages/{pair['msg']['id']}", params={"for": "all"}), "for")
    assert history_ids(pair) == [pair["msg"]["id"]]


def test_bad_frames_get_errors_and_the_connection_keeps_working(pair):
    ws, chat_id, msg_id = pair["ws"], pair["chat_id"], pair["msg"]["id"]

    def send_frame(**kw):
        return {"type": "send", "chat_id": chat_id, "body": "ok", "client_msg_id": uuid.uuid4().hex, **kw}

    for body in BAD_BODIES:
        ws_refused(ws, send_frame(body=body), field="body")
    for cmid in ("", "a" * 65, "has space", "ünï", 7):
        ws_refused(ws, send_frame(client_msg_id=cmid), field="client_msg_id")
    ws_refused(ws, {"type": "send", "chat_id": chat_id, "client_msg_id": "nobody"}, field="body")
    ws_refused(ws, {"type": "send", "body": "x", "client_msg_id": "nochat"}, field="chat_id")
    ws_refused(ws, send_frame(chat_id="abc"), field="chat_id")
    ws_refused(ws, send_frame(chat_id=str(int(chat_id) + 1)), code="not_found")
    for kind in ("like", "unlike"):
        ws_refused(ws, {"type": kind}, field="message_id")
        ws_refused(ws, {"type": kind, "message_id": "abc"}, field="message_id")
        ws_refused(ws, {"type": kind, "message_id": str(int(msg_id) + 1)}, code="not_found")
    ws_refused(ws, {"type": "read", "chat_id": chat_id}, field="message_id")
    ws_refused(ws, {"type": "read", "chat_id": chat_id, "message_id": str(int(msg_id) + 1)}, code="not_found")
    ws_refused(ws, {"type": "delete", "message_id": msg_id}, field="for")
    ws_refused(ws, {"type": "delete", "message_id": msg_id, "for": "all"}, field="for")
    ws_refused(ws, {"type": "delete", "message_id": str(int(msg_id) + 1), "for": "me"}, code="not_found")
    ws_refused(ws, {"type": "shout", "chat_id": chat_id})
    ws_refused(ws, "this is not json")
    ws_refused(ws, "[1, 2, 3]")

    # Exactly 10,000 characters go through, as do good frames after all those errors.
    ack = ws.request(send_frame(body="q" * MAX))
    assert ack["type"] == "ack" and ack["message"]["body"] == "q" * MAX
    ack2 = ws.request(send_frame(body="  still here  "))
    assert ack2["type"] == "ack" and ack2["message"]["body"] == "still here"
    assert history_ids(pair) == [msg_id, ack["message"]["id"], ack2["message"]["id"]]
    # Nothing the bad frames carried was stored or published.
    ws.drain(0.3)
    published = [f["message"]["id"] for f in ws.frames if f["type"] == "message"]
    assert published == [ack["message"]["id"], ack2["message"]["id"]]


@pytest.fixture(scope="module")
def short_server(engine_url, index_prefix):
    srv = ServerProcess(engine_url, index_prefix, max_body_chars=20).start()
    yield srv
    srv.stop()


def test_the_body_limit_is_the_deployments_over_rest_and_ws(short_server):
    p = team_with_chat(Api(short_server.url), "ann", "bob")
    ann, chat_id = p["ann"], p["chat_id"]
    fits = send(ann, chat_id, "  " + "x" * 20 + "  ")
    assert fits["body"] == "x" * 20
    error = bad_request(post_message(ann, chat_id, "y" * 21), "body")
    assert error["fields"]["body"] == ["must be at most 20 characters"]
    ws = WS(short_server.url, ann["token"])
    try:
        frame = {"type": "send", "chat_id": chat_id, "client_msg_id": uuid.uuid4().hex}
        answer = ws_refused(ws, {**frame, "body": "z" * 21}, field="body")
        assert answer["fields"]["body"] == ["must be at most 20 characters"]
        ack = ws.request({**frame, "body": "é" * 20})
        assert ack["type"] == "ack" and ack["message"]["body"] == "é" * 20
    finally:
        ws.close()
    assert [m["body"] for m in history(p["bob"], chat_id)["messages"]] == ["x" * 20, "é" * 20]

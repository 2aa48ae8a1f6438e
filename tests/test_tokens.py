"""Tokens (issue 16): idle timeout, absolute lifetime, log out everywhere, password
change; revocations made through one server process hold on another within seconds
(two real servers on the same index prefix, each with its own token cache). Open sockets
count as use while the client works in them, and are closed when their token expires."""
import hashlib
import hmac
import time

import pytest
import requests

from tests.conftest import ServerProcess
from tests.helpers import (WS, Api, assert_error, bad_request, forbidden, make_team, team_with_chat,
                           wait_until)

SETTINGS = dict(token_idle=4, token_lifetime=11, token_recheck=1)


@pytest.fixture(scope="module")
def pair(engine_url, index_prefix):
    """Two servers on one prefix: (a, b)."""
    a = ServerProcess(engine_url, index_prefix, **SETTINGS).start()
    b = ServerProcess(engine_url, index_prefix, **SETTINGS).start()
    yield a, b
    a.stop()
    b.stop()


def login(base: str, team: dict, username: str, password="password123") -> str:
    r = Api(base).post("/api/auth/login", json={"team": team["name"], "username": username,
                                                 "password": password})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def works(base: str, token: str) -> bool:
    r = Api(base, token).get("/api/me")
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


def refused_within(base: str, token: str, seconds: float):
    wait_until(lambda: not works(base, token), seconds, f"the token to be refused at {base}")


def writes_of(engine_url: str, prefix: str, token: str) -> int:
    """How many times the engine has written the token's document (its _version)."""
    digest = hmac.new(b"test-secret-for-this-session", token.encode(), hashlib.sha256).hexdigest()
    r = requests.get(f"{engine_url}/{prefix}-tokens/_doc/{digest}", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["_version"]


def keep_busy(ws: WS, chat_id: str, seconds: float, every=0.2) -> int:
    """Work in the socket (a typing frame every ``every`` s, nothing over REST); frames sent."""
    sent, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        ws.send({"type": "typing", "chat_id": chat_id})
        sent += 1
        time.sleep(every)
    return sent


def closed_as_expired(ws: WS, timeout: float):
    assert ws.wait_close(timeout=timeout) == 4401
    assert any(f.get("code") == "unauthorized" and "expired" in f.get("message", "")
               for f in ws.frames), ws.frames


def test_idle_token_expires_but_a_used_one_does_not(pair):
    a, _ = pair
    team, _ = make_team(Api(a.url), "ann")
    idle, busy = login(a.url, team, "ann"), login(a.url, team, "ann")
    for _ in range(6):          # 6 s of use, one call a second: longer than the idle timeout
        assert works(a.url, busy)
        time.sleep(1)
    assert works(a.url, busy)
    error = assert_error(Api(a.url, idle).get("/api/me"), 401, "unauthorized")
    assert "expired" in error["message"]


def test_token_lifetime_ends_even_a_busy_token(pair):
    a, b = pair
    team, _ = make_team(Api(a.url), "ann")
    token = login(a.url, team, "ann")
    started = time.monotonic()
    while time.monotonic() - started < SETTINGS["token_lifetime"] - 1.5:
        assert works(a.url, token) and works(b.url, token)
        time.sleep(1)
    refused_within(a.url, token, 10)
    refused_within(b.url, token, 10)


def test_log_out_everywhere_holds_on_the_other_process(pair):
    a, b = pair
    team, people = make_team(Api(a.url), "ann", "bob")
    asker, other = login(a.url, team, "ann"), login(a.url, team, "ann")
    assert works(b.url, asker) and works(b.url, other)     # now cached on b too
    socket_b = WS(b.url, other)
    socket_a = WS(a.url, other)
    try:
        r = Api(a.url, asker).post("/api/auth/logout-all")
        assert r.status_code == 204, r.text
        assert not works(a.url, asker) and not works(a.url, other)   # at once where it was made
        assert socket_a.wait_close() == 4401
        refused_within(b.url, asker, 10)                               # within seconds elsewhere
        refused_within(b.url, other, 10)
        assert socket_b.wait_close(timeout=15) == 4401
        # another member's tokens are untouched
        assert works(a.url, people["bob"]["token"]) and works(b.url, people["bob"]["token"])
    finally:
        socket_a.close()
        socket_b.close()


def test_password_change_needs_the_current_password(pair):
    a, _ = pair
    team, people = make_team(Api(a.url), "ann")
    api = people["ann"]["api"]
    forbidden(api.post("/api/auth/password", json={"current_password": "not-it-at-all",
                                                   "new_password": "new-password-1"}))
    bad_request(api.post("/api/auth/password", json={"new_password": "new-password-1"}),
                "current_password")
    bad_request(api.post("/api/auth/password", json={"current_password": "password123",
                                                     "new_password": "short"}), "new_password")
    assert_error(Api(a.url).post("/api/auth/password", json={
        "current_password": "password123", "new_password": "new-password-1"}), 401, "unauthorized")
    assert works(a.url, people["ann"]["token"])          # nothing changed
    login(a.url, team, "ann", "password123")


def test_password_change_revokes_every_other_token_on_both_processes(pair):
    a, b = pair
    team, people = make_team(Api(a.url), "ann", "bob")
    asker, phone = login(a.url, team, "ann"), login(a.url, team, "ann")
    assert works(b.url, phone)
    phone_socket_a, phone_socket_b = WS(a.url, phone), WS(b.url, phone)
    try:
        r = Api(a.url, asker).post("/api/auth/password", json={
            "current_password": "password123", "new_password": "a-new-password"})
        assert r.status_code == 204, r.text
        assert works(a.url, asker)                        # the asker stays logged in
        assert not works(a.url, phone)
        assert phone_socket_a.wait_close() == 4401
        refused_within(b.url, phone, 10)
        assert phone_socket_b.wait_close(timeout=15) == 4401
        assert works(b.url, asker)
        # the new password logs in, the old one no longer does; bob is untouched
        login(a.url, team, "ann", "a-new-password")
        assert Api(a.url).post("/api/auth/login", json={"team": team["name"], "username": "ann",
                                                        "password": "password123"}).status_code == 401
        assert works(a.url, people["bob"]["token"])
    finally:
        phone_socket_a.close()
        phone_socket_b.close()


def test_logout_on_one_process_holds_on_the_other(pair):
    a, b = pair
    team, _ = make_team(Api(a.url), "ann")
    token = login(a.url, team, "ann")
    assert works(b.url, token)
    assert Api(b.url, token).post("/api/auth/logout").status_code == 204
    assert not works(b.url, token)
    refused_within(a.url, token, 10)


def test_an_open_socket_counts_as_use_while_worked_in_and_closes_when_idle(pair, engine_url,
                                                                          index_prefix):
    a, b = pair
    room = team_with_chat(Api(a.url), "ann", "bob")
    idle, busy = login(a.url, room["team"], "ann"), login(a.url, room["team"], "ann")
    logged_in = time.monotonic()
    assert works(b.url, busy) and works(b.url, idle)     # cached on b, which must re-read
    idle_ws, busy_ws = WS(a.url, idle), WS(a.url, busy)
    written = writes_of(engine_url, index_prefix, busy)
    try:
        idle_ws.send({"type": "ping"})              # a heartbeat keeps a socket, not a token
        frames = keep_busy(busy_ws, room["chat_id"], SETTINGS["token_idle"] + 2.5)
        closed_as_expired(idle_ws, timeout=1)       # idle + the recheck period, meanwhile
        assert time.monotonic() - logged_in < SETTINGS["token_lifetime"] - 2, "idle, not lifetime"
        frames += keep_busy(busy_ws, room["chat_id"], 0.5)
        refused_within(a.url, idle, 5)
        refused_within(b.url, idle, 5)
        # the busy socket stays, and its use reached the engine (b, which saw no call of it
        # for twice the idle timeout, accepts it), in a few writes rather than one per frame
        assert busy_ws.request({"type": "ping"})["type"] == "pong"
        assert works(b.url, busy)
        writes = writes_of(engine_url, index_prefix, busy) - written
        quarters = (SETTINGS["token_idle"] + 3) / (SETTINGS["token_idle"] / 4)
        assert 1 <= writes <= quarters + 2 < frames, (writes, frames)
    finally:
        idle_ws.close()
        busy_ws.close()


def test_token_lifetime_closes_a_socket_in_use(pair):
    a, b = pair
    room = team_with_chat(Api(a.url), "ann", "bob")
    token = login(a.url, room["team"], "ann")
    started = time.monotonic()
    ws = WS(b.url, token)
    try:
        keep_busy(ws, room["chat_id"], SETTINGS["token_lifetime"] - 2)
        assert ws.request({"type": "ping"})["type"] == "pong"   # open until the lifetime ends
        assert works(a.url, token)           # the socket's use on b kept it alive on a too
        closed_as_expired(ws, timeout=SETTINGS["token_lifetime"] + 4 - (time.monotonic() - started))
        assert time.monotonic() - started >= SETTINGS["token_lifetime"] - 1
        refused_within(a.url, token, 5)
        refused_within(b.url, token, 5)
    finally:
        ws.close()


def test_a_password_changed_on_one_process_is_the_one_the_other_accepts(pair):
    a, b = pair
    team, people = make_team(Api(a.url), "ann")
    asker = people["ann"]["token"]
    assert works(b.url, asker)                    # b has ann cached, with the old password
    r = Api(a.url, asker).post("/api/auth/password", json={
        "current_password": "password123", "new_password": "a-new-password"})
    assert r.status_code == 204, r.text
    # b checks a password change against the new password, not its cached old one
    forbidden(Api(b.url, asker).post("/api/auth/password", json={
        "current_password": "password123", "new_password": "a-third-password"}))
    old = Api(b.url).post("/api/auth/login", json={"team": team["name"], "username": "ann",
                                                    "password": "password123"})
    assert_error(old, 401, "unauthorized")
    login(b.url, team, "ann", "a-new-password")
    r = Api(b.url, asker).post("/api/auth/password", json={
        "current_password": "a-new-password", "new_password": "a-third-password"})
    assert r.status_code == 204, r.text
    assert Api(a.url).post("/api/auth/login", json={"team": team["name"], "username": "ann",
                                                    "password": "a-new-password"}).status_code == 401
    login(a.url, team, "ann", "a-third-password")


def test_a_member_who_joined_through_one_process_logs_in_on_the_other(pair):
    a, b = pair
    team, _ = make_team(Api(a.url), "ann")
    login(b.url, team, "ann")                     # b has the team loaded, without bob
    joined = Api(a.url).signup(team, "bob")
    assert works(b.url, joined["token"])
    login(b.url, team, "bob")

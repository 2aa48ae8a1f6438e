"""Throttles (issue 16): each trips with 429 rate_limited and Retry-After, and recovers.

One server with small limits (a few per 2 s) and one trusted proxy, so each test speaks
from addresses of its own through X-Forwarded-For; another with no trusted proxy shows
that a forged X-Forwarded-For does not escape a throttle.
"""
import random
import time

import pytest
import websocket

from chatsvc.errors import RateLimited
from chatsvc.throttle import Backoff, Concurrency, KeyedLimit
from tests.conftest import ServerProcess
from tests.helpers import WS, Api, assert_error, send, unique

# Each limit refills one call per 4 s: slow enough that a loaded machine (requests taking
# a second each) still trips it, quick enough that a test waits out Retry-After.
SMALL = dict(throttle_scale=1, trusted_proxies=1, limit_login_address="6/24",
             login_free_failures=3, login_backoff=2, login_backoff_max=8,
             limit_signup_address="3/12", limit_team_address="3/12", limit_invite_address="3/12",
             limit_search_user="3/12", limit_action_user="4/16", limit_chat_user="3/12",
             limit_ws_user="3/12", limit_ws_address="20/80")


@pytest.fixture(scope="module")
def small(engine_url, index_prefix):
    srv = ServerProcess(engine_url, index_prefix, **SMALL).start()
    yield srv
    srv.stop()


def address() -> str:
    return "10.%d.%d.%d" % (random.randrange(256), random.randrange(256), random.randrange(1, 255))


def via(addr: str) -> dict:
    return {"X-Forwarded-For": addr}


def new_team(api: Api, *members: str):
    """A fresh team (made from an address of its own) with these members: (team, tokens)."""
    creator, *others = members or ("ann",)
    r = api.post("/api/teams", headers=via(address()), json={
        "name": unique("team"), "username": creator, "display_name": creator.title(),
        "password": "password123"})
    assert r.status_code == 201, r.text
    team, tokens = r.json()["team"], {creator: r.json()["token"]}
    for name in others:
        r = api.post("/api/auth/signup", headers=via(address()), json={
            "team": team["name"], "invite_code": team["invite_code"], "username": name,
            "display_name": name.title(), "password": "password123"})
        assert r.status_code == 201, r.text
        tokens[name] = r.json()["token"]
    return team, tokens


def throttled(response) -> int:
    """Assert a 429 rate_limited with Retry-After; the seconds it says."""
    error = assert_error(response, 429, "rate_limited")
    retry = int(response.headers["Retry-After"])
    assert 1 <= retry <= 8 and error["retry_after"] == retry, (response.headers, error)
    return retry


def trips_then_recovers(call, allowed: int):
    """``allowed`` calls succeed, the next is throttled, and after Retry-After one more
    succeeds again."""
    for i in range(allowed):
        r = call(i)
        assert r.status_code < 300, (i, r.status_code, r.text)
    retry = throttled(call(allowed))
    time.sleep(retry)
    r = call(allowed + 1)
    assert r.status_code < 300, r.text


def login(api, team, username, password, addr):
    return api.post("/api/auth/login", headers=via(addr),
                    json={"team": team["name"], "username": username, "password": password})


# ---------------------------------------------------------------------------- login

def test_wrong_passwords_back_off_but_the_owner_elsewhere_gets_in(small):
    api = Api(small.url)
    team, _ = new_team(api, "ann")
    attacker = address()
    # The free failures and the one that starts the back-off are answered 401...
    answers = [login(api, team, "ann", "wrong-password", attacker).status_code for _ in range(4)]
    assert answers == [401, 401, 401, 401], answers
    # ...then the pair waits, even with the right password (5 of the address's 6 logins).
    retry = throttled(login(api, team, "ann", "password123", attacker))
    # The owner from her own address is not locked out by the attacker's guesses.
    assert login(api, team, "ann", "password123", address()).status_code == 200
    time.sleep(retry)
    assert login(api, team, "ann", "password123", attacker).status_code == 200


def test_thirty_wrong_passwords_are_not_thirty_401s(small):
    api = Api(small.url)
    team, _ = new_team(api, "ann")
    addr = address()
    statuses = [login(api, team, "ann", f"guess-{i}-wrong", addr).status_code for i in range(30)]
    assert statuses.count(401) <= SMALL["login_free_failures"] + 3, statuses
    assert statuses.count(429) >= 25, statuses


def test_logins_per_address_across_accounts(small):
    api = Api(small.url)
    team, _ = new_team(api, "ann", "bob")
    addr = address()
    # Right passwords, alternating accounts: only the per-address limit applies.
    trips_then_recovers(lambda i: login(api, team, ("ann", "bob")[i % 2], "password123", addr), 6)


# ---------------------------------------------------------------------------- sign-up, teams, invites

def test_team_creation_per_address(small):
    api = Api(small.url)
    addr = address()
    trips_then_recovers(lambda i: api.post("/api/teams", headers=via(addr), json={
        "name": unique("burst"), "username": "ann", "display_name": "Ann",
        "password": "password123"}), 3)


def test_forty_teams_in_a_burst_are_refused(small):
    api = Api(small.url)
    addr = address()
    statuses = [api.post("/api/teams", headers=via(addr), json={
        "name": unique("burst"), "username": "ann", "display_name": "Ann",
        "password": "password123"}).status_code for _ in range(40)]
    assert statuses.count(201) <= 4 and statuses.count(429) >= 36, statuses


def test_signup_per_address(small):
    api = Api(small.url)
    team, _ = new_team(api, "ann")
    addr = address()
    trips_then_recovers(lambda i: api.post("/api/auth/signup", headers=via(addr), json={
        "team": team["name"], "invite_code": team["invite_code"], "username": f"user{i}",
        "display_name": "U", "password": "password123"}), 3)


def test_invite_code_guessing_per_address(small):
    api = Api(small.url)
    team, _ = new_team(api, "ann")
    addr = address()

    def guess(i, code=None):
        return api.post("/api/auth/signup", headers=via(addr), json={
            "team": team["name"], "invite_code": code or f"guess{i}", "username": f"g{i}",
            "display_name": "G", "password": "password123"})
    for i in range(3):
        assert guess(i).status_code == 403
    retry = throttled(guess(3))
    # Even the right code waits out the guesser's back-off from that address...
    throttled(guess(4, team["invite_code"]))
    # ...but another address joins at once, and the guesser's address after Retry-After.
    r = api.post("/api/auth/signup", headers=via(address()), json={
        "team": team["name"], "invite_code": team["invite_code"], "username": "legit",
        "display_name": "L", "password": "password123"})
    assert r.status_code == 201, r.text
    time.sleep(retry)
    assert guess(5, team["invite_code"]).status_code == 201


# ---------------------------------------------------------------------------- per user

def test_search_per_user(small):
    api = Api(small.url)
    _, tokens = new_team(api, "ann", "bob")
    ann = api.as_user(tokens["ann"])
    trips_then_recovers(lambda i: ann.get("/api/search", params={"q": "hello"}), 3)
    # bob's searches are his own budget
    assert api.as_user(tokens["bob"]).get("/api/search", params={"q": "hello"}).status_code == 200


def test_likes_reactions_reads_deletes_share_a_per_user_budget(small):
    api = Api(small.url)
    _, tokens = new_team(api, "ann", "bob")
    ann = {"api": api.as_user(tokens["ann"])}
    bob = {"api": api.as_user(tokens["bob"])}
    chat = ok_chat(ann, bob)
    message = send(ann, chat["id"], "hello")
    calls = [lambda: ann["api"].put(f"/api/messages/{message['id']}/like"),
             lambda: ann["api"].put(f"/api/messages/{message['id']}/reactions/%F0%9F%8E%89"),
             lambda: ann["api"].post(f"/api/chats/{chat['id']}/read", json={"message_id": message["id"]}),
             lambda: ann["api"].delete(f"/api/messages/{message['id']}/like")]
    trips_then_recovers(lambda i: calls[i % 4]() if i < 4 else
                        ann["api"].delete(f"/api/messages/{message['id']}", params={"for": "me"}), 4)


def ok_chat(person, other):
    r = person["api"].post("/api/chats", json={"member_ids": [whoami(other)]})
    assert r.status_code in (200, 201), r.text
    return r.json()


def whoami(person) -> str:
    return person["api"].get("/api/me").json()["id"]


def test_chat_creation_per_user(small):
    api = Api(small.url)
    _, tokens = new_team(api, "ann", "bob")
    ann = api.as_user(tokens["ann"])
    bob_id = api.as_user(tokens["bob"]).get("/api/me").json()["id"]
    trips_then_recovers(lambda i: ann.post("/api/chats", json={"member_ids": [bob_id],
                                                               "title": f"group {i}"}), 3)


def test_ws_action_frames_are_throttled_and_the_socket_stays(small):
    api = Api(small.url)
    _, tokens = new_team(api, "ann", "bob")
    ann = {"api": api.as_user(tokens["ann"])}
    chat = ok_chat(ann, {"api": api.as_user(tokens["bob"])})
    message = send(ann, chat["id"], "hi")
    ws = WS(small.url, tokens["ann"])
    try:
        answers = [ws.request({"type": "like", "message_id": message["id"]}) for _ in range(5)]
        assert [a["type"] for a in answers[:4]] == ["ok"] * 4, answers
        assert answers[4]["type"] == "error" and answers[4]["code"] == "rate_limited", answers
        assert 1 <= answers[4]["retry_after"] <= 8
        time.sleep(answers[4]["retry_after"])
        assert ws.request({"type": "unlike", "message_id": message["id"]})["type"] == "ok"
    finally:
        ws.close()


# ---------------------------------------------------------------------------- WebSocket connections

def test_ws_connections_per_user(small):
    api = Api(small.url)
    _, tokens = new_team(api, "ann")
    opened = [WS(small.url, tokens["ann"]) for _ in range(3)]
    try:
        extra = WS(small.url, tokens["ann"], auth=False)
        extra.send({"type": "auth", "token": tokens["ann"]})
        error = extra.wait("error")
        assert error["code"] == "rate_limited" and error["retry_after"] >= 1, error
        assert extra.wait_close() == 1013
        time.sleep(error["retry_after"])
        WS(small.url, tokens["ann"]).close()
    finally:
        for ws in opened:
            ws.close()


def test_ws_connections_per_address(small):
    url = small.url.replace("http://", "ws://") + "/ws"
    addr = address()
    sockets = [websocket.create_connection(url, header=[f"X-Forwarded-For: {addr}"], timeout=10)
               for _ in range(20)]
    try:
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(url, header=[f"X-Forwarded-For: {addr}"], timeout=10)
        assert refused.value.status_code == 429
        headers = {k.lower(): v for k, v in (refused.value.resp_headers or {}).items()}
        retry = int(headers["retry-after"])
        # another address is not affected
        websocket.create_connection(url, header=[f"X-Forwarded-For: {address()}"], timeout=10).close()
        time.sleep(retry)
        websocket.create_connection(url, header=[f"X-Forwarded-For: {addr}"], timeout=10).close()
    finally:
        for s in sockets:
            s.close()


# ---------------------------------------------------------------------------- untrusted proxy

def test_forged_forwarded_for_is_ignored_without_a_trusted_proxy(engine_url, index_prefix):
    srv = ServerProcess(engine_url, index_prefix, throttle_scale=1, limit_team_address="2/30").start()
    try:
        api = Api(srv.url)
        statuses = [api.post("/api/teams", headers=via(address()), json={
            "name": unique("forged"), "username": "ann", "display_name": "Ann",
            "password": "password123"}).status_code for _ in range(4)]
        assert statuses == [201, 201, 429, 429], statuses
    finally:
        srv.stop()


# ---------------------------------------------------------------------------- pure logic

def test_keyed_limit_refills_at_its_rate():
    limit = KeyedLimit("x", 2, 1.0, keys=10)
    limit.hit("a"), limit.hit("a")
    with pytest.raises(RateLimited) as refused:
        limit.hit("a")
    assert refused.value.retry_after == 1
    limit.hit("b")          # keys are independent
    limit.hit(None)         # no address: never throttled
    time.sleep(0.55)
    limit.hit("a")


def test_keyed_limit_forgets_least_recently_used_keys():
    limit = KeyedLimit("x", 1, 60, keys=100)
    for i in range(1000):
        limit.hit(i)
    assert len(limit) == 100


def test_backoff_doubles_and_success_forgets():
    now = [0.0]
    backoff = Backoff(free=2, base=1.0, longest=8.0, keys=10, clock=lambda: now[0])
    waits = []
    for _ in range(6):
        backoff.failed("k")
        try:
            backoff.check("k")
            waits.append(0)
        except RateLimited as exc:
            waits.append(exc.retry_after)
    assert waits == [0, 0, 1, 2, 4, 8], waits
    backoff.succeeded("k")
    backoff.check("k")


def test_concurrency_cap_refuses_rather_than_queues():
    cap = Concurrency("searches", 2)
    with cap, cap:
        with pytest.raises(RateLimited):
            with cap:
                pass
    with cap:
        pass


def test_throttles_off_never_refuse():
    from chatsvc.config import Config
    from chatsvc.throttle import Throttles
    off = Throttles(Config(throttles=0, limit_login_address=(1, 60.0)))
    for _ in range(50):
        off.login_address.hit("10.0.0.1")
        off.login_failures.failed("pair")
        off.login_failures.check("pair")
    on = Throttles(Config(limit_login_address=(1, 60.0)))
    on.login_address.hit("10.0.0.1")
    with pytest.raises(RateLimited):
        on.login_address.hit("10.0.0.1")

"""Scale-out (issue 18) on a real cluster of the tests' own: 3 OpenSearch nodes (one
process each, one replica), 2 chatsvc instances, HAProxy routing by team.

Fault tests: kill -9 an instance under WebSocket traffic of several teams, restart it,
kill -9 an engine node under traffic. Nothing here is faked: every part is the real one.
"""
import os
import signal
import threading
import time
import uuid

import pytest
import requests

from playwright.sync_api import expect

from tests.cluster_client import Cluster, Member
from tests.e2e.test_workspace import Person, browser  # noqa: F401  (browser: the e2e suite's fixture)
from tests.helpers import WS, Api, assert_error, create_chat, make_team, ok, send, wait_until, whole_history

FAILOVER_LIMIT = 10.0


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(instances=2, engine_nodes=3)
    try:
        c.up()
        yield c
    finally:
        c.down()


@pytest.fixture
def proxy(cluster):
    return Api(cluster.status()["url"])


def instance_url(cluster, k: int) -> str:
    return f"http://127.0.0.1:{cluster.status()['instances'][k]['port']}"


def owner_port(cluster, team_id: str) -> int:
    """The instance serving the team now (exactly one, or the test fails)."""
    def one():
        holders = [port for port, teams in cluster.served().items() if team_id in teams]
        assert len(holders) <= 1, f"team {team_id} served by {holders}"
        return holders[0] if holders else None
    return wait_until(one, 15, f"an instance to serve team {team_id}")


def teams_with_chats(proxy, count: int):
    out = []
    for _ in range(count):
        team, people = make_team(proxy, "ann", "bob")
        chat = create_chat(people["ann"], people["bob"])
        ok(people["ann"]["api"].put(f"/api/contacts/{people['bob']['user']['id']}"), 204)
        send(people["ann"], chat["id"], "first")   # makes the team's owner take its lease
        out.append((team, people, chat["id"]))
    return out


class NoTwoOwners:
    """Polls every instance's served teams while a test runs; any overlap fails it."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.overlaps = []
        self.samples = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join(10)
        assert not self.overlaps, f"two instances served one team at once: {self.overlaps[:3]}"
        assert self.samples > 10

    def _run(self):
        while not self.stopped.is_set():
            try:
                served = self.cluster.served()
            except Exception:
                continue
            ports = list(served)
            for i, a in enumerate(ports):
                for b in ports[i + 1:]:
                    both = served[a] & served[b]
                    if both:
                        self.overlaps.append((a, b, sorted(both)))
            self.samples += 1
            time.sleep(0.05)


# ------------------------------------------------------------------------ the deployment

def test_status_json_names_every_part(cluster):
    status = cluster.status()
    assert status["url"].startswith("http://127.0.0.1:")
    assert len(status["instances"]) == 2 and len(status["engine_nodes"]) == 3
    assert all(item["pid"] and item["port"] for item in status["instances"] + status["engine_nodes"])
    health = requests.get(status["engine_nodes"][0] and f"http://127.0.0.1:{status['engine_nodes'][0]['port']}"
                          "/_cluster/health", timeout=5).json()
    assert health["number_of_nodes"] == 3
    # README's `scripts/cluster status` (without --json): the URL and a line per part.
    text = cluster.run("status").stdout
    assert text.startswith(f"url {status['url']}  engine ") and "engine down" not in text, text
    assert text.count("instance") == 2 and text.count("engine_node") == 3 and "proxy" in text, text


def test_indices_have_one_replica_and_explicit_durability(cluster, proxy):
    node = f"http://127.0.0.1:{cluster.status()['engine_nodes'][0]['port']}"
    make_team(proxy, "ann")
    settings = requests.get(f"{node}/{cluster.name}-messages-*,{cluster.name}-users/_settings",
                            params={"flat_settings": "true"}, timeout=10).json()
    assert settings, "no indices of the cluster's prefix"
    for name, index in settings.items():
        flat = index["settings"]
        assert flat["index.number_of_replicas"] == "1", name
        assert flat["index.translog.durability"] == "request", name
        assert flat["index.write.wait_for_active_shards"] == "1", name


def test_each_team_has_exactly_one_owner_and_tokens_carry_the_team(cluster, proxy):
    made = teams_with_chats(proxy, 6)
    owners = {team["id"]: owner_port(cluster, team["id"]) for team, _, _ in made}
    assert len(set(owners.values())) == 2, f"6 teams all hashed to one instance: {owners}"
    for team, people, _ in made:
        assert people["ann"]["token"].startswith(team["id"] + ".")


def test_login_and_signup_work_on_any_instance(cluster, proxy):
    team, people = make_team(proxy, "ann")
    ok(people["ann"]["api"].get("/api/chats"))   # the team's owner takes its lease
    owner = owner_port(cluster, team["id"])
    for k in range(2):
        direct = Api(instance_url(cluster, k))
        name = f"user{k}"
        created = ok(direct.post("/api/auth/signup", json={
            "team": team["name"], "invite_code": team["invite_code"], "username": name,
            "display_name": name, "password": "password123"}), 201)
        logged = ok(direct.post("/api/auth/login", json={"team": team["name"], "username": name,
                                                          "password": "password123"}))
        assert logged["user"]["id"] == created["user"]["id"]
        # Through the proxy the new user is served at once, and her teammates see her.
        me = ok(proxy.as_user(logged["token"]).get("/api/me"))
        assert me["id"] == created["user"]["id"]
        users = wait_until(lambda: {u["username"] for u in ok(people["ann"]["api"].get("/api/users"))["users"]}
                           >= {name}, 10, f"{name} in the directory")
        assert users
    assert_error(Api(instance_url(cluster, 0)).post("/api/auth/login", json={
        "team": team["name"], "username": "user0", "password": "wrong-password"}), 401, "unauthorized")
    assert_error(Api(instance_url(cluster, 1)).post("/api/auth/signup", json={
        "team": team["name"], "invite_code": "wrong", "username": "eve", "display_name": "Eve",
        "password": "password123"}), 403, "forbidden")
    assert_error(Api(instance_url(cluster, 1)).post("/api/auth/signup", json={
        "team": team["name"], "invite_code": team["invite_code"], "username": "user0",
        "display_name": "again", "password": "password123"}), 409, "conflict")
    assert owner_port(cluster, team["id"]) == owner   # logins elsewhere moved nothing


def test_a_request_not_routed_to_the_owner_is_refused_cleanly(cluster, proxy):
    team, people = make_team(proxy, "ann", "bob")
    chat = create_chat(people["ann"], people["bob"])
    owner = owner_port(cluster, team["id"])
    other = next(i["port"] for i in cluster.status()["instances"] if i["port"] != owner)
    stray = Api(f"http://127.0.0.1:{other}", people["ann"]["token"])   # no proxy: not routed
    assert_error(stray.get(f"/api/chats/{chat['id']}/messages"), 503, "unavailable")
    assert owner_port(cluster, team["id"]) == owner   # a stray request moves nothing
    # Through the proxy the same call is served by the owner.
    assert ok(people["ann"]["api"].get(f"/api/chats/{chat['id']}/messages"))["messages"] == []


def test_operators_endpoint_needs_the_secret(cluster):
    url = instance_url(cluster, 0) + "/internal/teams"
    assert_error(requests.get(url, timeout=5), 404, "not_found")
    assert_error(requests.get(url, headers={"X-Chatsvc-Secret": "guess"}, timeout=5), 404, "not_found")


def test_another_team_a_non_member_and_a_leaver_are_refused_through_the_proxy(cluster, proxy):
    team, people = make_team(proxy, "ann", "bob", "cid", "dan")
    chat = create_chat(people["ann"], people["bob"], people["cid"], title="trio")
    _, outsiders = make_team(proxy, "eve")
    send(people["ann"], chat["id"], "for the trio")
    ok(people["cid"]["api"].post(f"/api/chats/{chat['id']}/leave"), 204)
    for intruder in (people["cid"], people["dan"], outsiders["eve"]):   # leaver, non-member, other team
        not_found_or_moved(intruder["api"].get(f"/api/chats/{chat['id']}/messages"))
        not_found_or_moved(intruder["api"].get(f"/api/chats/{chat['id']}/messages",
                                               headers={"X-Chatsvc-Team": team["id"]}))
    # A routing header naming another team routes the request, and grants nothing.
    not_found_or_moved(outsiders["eve"]["api"].post(f"/api/chats/{chat['id']}/messages",
                                                    headers={"X-Chatsvc-Team": team["id"]},
                                                    json={"body": "hi", "client_msg_id": uuid.uuid4().hex}))
    # The operators' endpoint is no way in either, even for a team member.
    assert_error(people["ann"]["api"].get("/internal/teams"), 404, "not_found")


def not_found_or_moved(response):
    """Refused without a hint: 404 from the caller's team's owner, or (sent to an instance
    that does not serve the caller's team) 503 unavailable: never the messages."""
    assert response.status_code in (404, 503), response.text
    assert response.json()["error"]["code"] == ("not_found" if response.status_code == 404 else "unavailable")


# ------------------------------------------------------------------------ faults

def traffic(members, stop: threading.Event, every: float = 0.15):
    def run(member: Member):
        n = 0
        while not stop.is_set():
            member.send(member.chat_ids[0], f"{member.user['username']} {n}")
            n += 1
            time.sleep(every)
    threads = [threading.Thread(target=run, args=(m,), daemon=True) for m in members]
    for t in threads:
        t.start()
    return threads


def settle_and_check(members, teams, stop, threads):
    """Stop sending, wait for every send to be acknowledged, catch up, then check that no
    acknowledged message was lost or duplicated and every member saw each exactly once."""
    stop.set()
    for t in threads:
        t.join(5)
    wait_until(lambda: all(not m.pending for m in members), 30,
               lambda: f"unacknowledged sends: {sum(len(m.pending) for m in members)}")
    for m in members:
        m._catch_up()
    for team, people, chat_id in teams:
        stored = whole_history(people["ann"], chat_id)
        ids = [int(msg["id"]) for msg in stored]
        assert len(ids) == len(set(ids))
        by_client = {}
        for msg in stored:
            by_client.setdefault((msg["sender_id"], msg["client_msg_id"]), []).append(msg["id"])
        assert all(len(v) == 1 for v in by_client.values()), "a message was stored twice"
        mine = [m for m in members if m.team_id == team["id"]]
        acked = {mid for m in mine for mid in m.acked.values()}
        assert acked <= set(ids), f"acknowledged but lost: {sorted(acked - set(ids))[:5]}"
        for m in mine:
            assert set(ids) <= m.seen[chat_id], f"{m.user['username']} missed {sorted(set(ids) - m.seen[chat_id])[:5]}"
            for pushed in m.pushed_per_conn:
                assert len(pushed) == len(set(pushed)), "a message was pushed twice to one connection"


def test_kill_an_instance_under_traffic_then_restart_it(cluster, proxy):
    teams = teams_with_chats(proxy, 6)
    members = [Member(cluster.status()["url"], people[name], [chat_id]).start()
               for _, people, chat_id in teams for name in ("ann", "bob")]
    wait_until(lambda: all(m.readies for m in members), 20, "every member connected")
    stop = threading.Event()
    threads = traffic(members, stop)
    with NoTwoOwners(cluster):
        time.sleep(2)
        # The proxy's hashing decides where the six teams went (all on one instance now and
        # then): the victim is the instance serving most of them.
        ours = {team["id"] for team, _, _ in teams}
        served = cluster.served()
        victim = max(cluster.status()["instances"], key=lambda i: len(served.get(i["port"], set()) & ours))
        victim_teams = served.get(victim["port"], set()) & ours
        assert victim_teams, "no instance serves the test's teams"
        os.killpg(victim["pid"], signal.SIGKILL)   # the gunicorn master and its worker at once
        killed_at = time.monotonic()

        def everyone_served_again():
            return all(any(t > killed_at for t in m.ack_times) for m in members)
        wait_until(everyone_served_again, FAILOVER_LIMIT + 5, "every member acknowledged again after the kill")
        slowest = max(min(t for t in m.ack_times if t > killed_at) - killed_at
                      for m in members if m.team_id in victim_teams)
        assert slowest <= FAILOVER_LIMIT, f"a killed instance's team took {slowest:.1f}s to be served again"
        survivors = cluster.served()
        assert victim_teams <= set().union(*survivors.values())

        # Presence settles: ann sees bob online on the new owner.
        team, people, _ = next(t for t in teams if t[0]["id"] in victim_teams)
        wait_until(lambda: ok(people["ann"]["api"].get("/api/contacts"))["contacts"][0]["presence"]["status"]
                   == "online", 10, "bob online again")

        # A connection of a team that hashes to the killed instance: when it comes back the
        # team moves back, and the interim owner closes the team's sockets with 4012.
        moving = next(people for team, people, _ in teams if team["id"] in victim_teams)["ann"]
        watcher = WS(cluster.status()["url"], moving["token"], path=f"/ws?team={moving['user']['team_id']}")
        cluster.up()   # the killed instance comes back; its teams move back to it
        # Open sockets stay where they are: a team moves at its next request through the
        # proxy (any REST call of a client, a new connection).
        ok(moving["api"].get("/api/chats"))
        wait_until(lambda: len(cluster.served()) == 2, 30, "both instances serving")
        assert watcher.wait_close(timeout=20) == 4012
        assert any(f["type"] == "error" and f["code"] == "unavailable" for f in watcher.frames)
        time.sleep(3)  # handovers happen under traffic while NoTwoOwners watches
        wait_until(lambda: all(any(t > time.monotonic() - 3 for t in m.ack_times) for m in members), 20,
                   "every member acknowledged after the restart")
    settle_and_check(members, teams, stop, threads)
    for m in members:
        m.stop()


def test_kill_an_engine_node_under_traffic(cluster, proxy):
    teams = teams_with_chats(proxy, 3)
    members = [Member(cluster.status()["url"], people[name], [chat_id]).start()
               for _, people, chat_id in teams for name in ("ann", "bob")]
    wait_until(lambda: all(m.readies for m in members), 20, "every member connected")
    stop = threading.Event()
    threads = traffic(members, stop)
    time.sleep(2)
    status = cluster.status()
    victim = status["engine_nodes"][1]
    os.killpg(victim["pid"], signal.SIGKILL)
    killed_at = time.monotonic()
    wait_until(lambda: all(any(t > killed_at + 1 for t in m.ack_times) for m in members), 40,
               "sends acknowledged again after the engine node died")
    cluster.up()   # the node comes back
    node = f"http://127.0.0.1:{status['engine_nodes'][0]['port']}"
    wait_until(lambda: requests.get(f"{node}/_cluster/health", timeout=5).json()["status"] == "green", 120,
               "the engine cluster green again")
    settle_and_check(members, teams, stop, threads)
    for m in members:
        m.stop()


# ------------------------------------------------------------------------ replicated reads

def test_a_users_searches_never_contradict_each_other_on_replicas(cluster, proxy):
    """With one replica, copies refresh at different moments; a user's reads stay on the
    same copies (preference), so what she found once does not vanish from the next search."""
    team, people = make_team(proxy, "ann", "bob")
    chat = create_chat(people["ann"], people["bob"])
    word = f"zebra{uuid.uuid4().hex[:6]}"
    last = 0
    for n in range(40):
        send(people["ann"], chat["id"], f"{word} number {n}")
        found = ok(people["bob"]["api"].get("/api/search", params={"q": word, "limit": 100}))["total"]
        assert found >= last, f"search {n}: {found} hits after {last}: results came and went"
        last = found
    wait_until(lambda: ok(people["bob"]["api"].get("/api/search", params={"q": word, "limit": 100}))["total"] == 40,
               10, "every message found")


def test_delete_for_everyone_vanishes_from_every_copy(cluster, proxy):
    team, people = make_team(proxy, "ann", "bob", "cid")
    chat = create_chat(people["ann"], people["bob"], people["cid"], title="copies")
    word = f"walrus{uuid.uuid4().hex[:6]}"
    message = send(people["ann"], chat["id"], f"{word} to delete")
    wait_until(lambda: all(ok(p["api"].get("/api/search", params={"q": word}))["total"] == 1
                           for p in people.values()), 10, "the message found by everyone")
    assert people["ann"]["api"].delete(f"/api/messages/{message['id']}", params={"for": "everyone"}).status_code == 204
    # At once, for every user (each on her own copies) and on both copies of the shard.
    for person in people.values():
        assert ok(person["api"].get("/api/search", params={"q": word}))["total"] == 0
    node = f"http://127.0.0.1:{cluster.status()['engine_nodes'][0]['port']}"
    for copy in ("_primary", "_replica"):
        for deleted, expected in ((False, 0), (True, 1)):
            body = {"query": {"bool": {"filter": [{"term": {"id": int(message["id"])}},
                                                  {"term": {"deleted": deleted}}]}}}
            r = requests.post(f"{node}/{cluster.name}-messages-*/_search", params={"preference": copy},
                              json=body, timeout=10).json()
            assert r["hits"]["total"]["value"] == expected, (copy, deleted, r)


def test_a_logout_holds_on_every_instance_the_team_moves_to(cluster, proxy):
    """A token cached by the instance that answered the login (not the team's owner), then
    revoked on the owner: when the team moves to that instance, the token is refused."""
    team, people = make_team(proxy, "ann")
    ok(people["ann"]["api"].get("/api/chats"))
    owner = owner_port(cluster, team["id"])
    instances = cluster.status()["instances"]
    other = next(i for i in instances if i["port"] != owner)
    session = ok(Api(f"http://127.0.0.1:{other['port']}").post("/api/auth/login", json={
        "team": team["name"], "username": "ann", "password": "password123"}))
    token_api = proxy.as_user(session["token"])
    assert ok(token_api.get("/api/me"))["id"] == people["ann"]["user"]["id"]
    assert token_api.post("/api/auth/logout").status_code == 204
    assert_error(token_api.get("/api/me"), 401, "unauthorized")
    owner_name = f"instance-{next(i['worker_id'] for i in instances if i['port'] == owner)}"
    cluster.proxy(f"disable server instances/{owner_name}")
    try:
        wait_until(lambda: people["ann"]["api"].get("/api/chats").status_code == 200
                   and owner_port(cluster, team["id"]) == other["port"], 20, "the team on the other instance")
        assert_error(token_api.get("/api/me"), 401, "unauthorized")
    finally:
        cluster.proxy(f"enable server instances/{owner_name}")


# ------------------------------------------------------------------------ the workspace

def test_the_workspace_through_the_proxy_follows_its_team_to_another_instance(cluster, proxy, browser):
    """Debian's Chromium on the proxy's URL: two people chat, their team is handed over to
    the other instance (the owner taken out of the proxy's ring), the workspace reconnects
    by itself and goes on with nothing lost or doubled; axe finds nothing serious."""
    url = cluster.status()["url"]
    team, people = make_team(proxy, "carol", "dave")
    chat = create_chat(people["carol"], people["dave"])
    carol, dave = Person(browser, url, "carol", bypass_csp=True), Person(browser, url, "dave")
    owner = owner_port(cluster, team["id"])
    owner_name = f"instance-{next(i['worker_id'] for i in cluster.status()['instances'] if i['port'] == owner)}"
    try:
        for who in (carol, dave):
            who.sign_in_with(people[who.name]["token"])
            who.tid("chat-list-item").and_(who.page.locator(f'[data-chat-id="{chat["id"]}"]')).click()
        carol.send("before the move")
        expect(dave.message("before the move")).to_be_visible()

        cluster.proxy(f"disable server instances/{owner_name}")
        wait_until(lambda: people["carol"]["api"].get("/api/chats").status_code == 200
                   and owner_port(cluster, team["id"]) != owner, 20, "the team on the other instance")
        for who in (carol, dave):
            expect(who.tid("connection-status")).to_have_attribute("data-status", "ready", timeout=30_000)
        dave.send("after the move")
        expect(carol.message("after the move")).to_have_count(1)
        carol.send("and back")
        expect(dave.message("and back")).to_have_count(1)
        for who in (carol, dave):
            assert who.bodies() == ["before the move", "after the move", "and back"], who.bodies()
            assert who.errors == [], f"{who.name}: page errors: {who.errors}"
        assert carol.accessibility_problems("workspace through the proxy") == []
    finally:
        cluster.proxy(f"enable server instances/{owner_name}")
        carol.close()
        dave.close()

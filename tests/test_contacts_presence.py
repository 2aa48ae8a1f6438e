"""Contacts and presence through a real server and real WebSocket clients.

The session server has a presence grace period of 1 s (tests/conftest.py)."""
import re
import time

from tests.helpers import WS, bad_request, make_team, not_found, ok, wait_until

GRACE = 1.0
RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _presence_events(ws, quiet=0.3):
    return [f for f in ws.drain(quiet) if f["type"] == "presence"]


def _contacts(client):
    return {c["user"]["id"]: c for c in ok(client.get("/api/contacts"))["contacts"]}


# -- contacts ------------------------------------------------------------------------------

def test_add_list_and_remove_contacts(api):
    _, people = make_team(api, "ann", "bob", "cid")
    ann, bob, cid = people["ann"], people["bob"], people["cid"]
    assert _contacts(ann["api"]) == {}

    for who in (bob, cid, bob):  # adding twice is harmless
        r = ann["api"].put(f"/api/contacts/{who['user']['id']}")
        assert r.status_code == 204, r.text
    contacts = _contacts(ann["api"])
    assert set(contacts) == {bob["user"]["id"], cid["user"]["id"]}
    entry = contacts[bob["user"]["id"]]
    assert entry["user"] == bob["user"]
    assert entry["presence"]["user_id"] == bob["user"]["id"]
    assert entry["presence"]["status"] == "offline"
    assert "last_seen" in entry["presence"]
    # contacts are one-directional
    assert _contacts(bob["api"]) == {}

    r = ann["api"].delete(f"/api/contacts/{bob['user']['id']}")
    assert r.status_code == 204, r.text
    assert set(_contacts(ann["api"])) == {cid["user"]["id"]}


def test_adding_yourself_is_400_and_unknown_users_are_404(api):
    _, people = make_team(api, "dee")
    dee = people["dee"]
    bad_request(dee["api"].put(f"/api/contacts/{dee['user']['id']}"))
    for bogus in ("999999999999", "not-an-id"):
        not_found(dee["api"].put(f"/api/contacts/{bogus}"))
    assert dee["api"].put("/api/contacts/1", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_contact_list_shows_live_presence(api, server):
    _, people = make_team(api, "eve", "fay")
    eve, fay = people["eve"], people["fay"]
    fay_ws = WS(server.url, fay["token"])
    try:
        assert eve["api"].put(f"/api/contacts/{fay['user']['id']}").status_code == 204
        assert _contacts(eve["api"])[fay["user"]["id"]]["presence"]["status"] == "online"
    finally:
        fay_ws.close()
    wait_until(lambda: _contacts(eve["api"])[fay["user"]["id"]]["presence"]["status"] == "offline",
               GRACE + 5, "offline (still online long after the grace period)", poll=0.2)
    presence = _contacts(eve["api"])[fay["user"]["id"]]["presence"]
    assert RFC3339_MS.match(presence["last_seen"]), presence


# -- presence events -------------------------------------------------------------------------

def test_presence_across_two_devices_reaches_only_contacts(api, server):
    _, people = make_team(api, "amy", "ben", "cal", "dot")
    amy, ben, cal, dot = (people[n] for n in ("amy", "ben", "cal", "dot"))
    amy_id = amy["user"]["id"]
    assert ben["api"].put(f"/api/contacts/{amy_id}").status_code == 204  # ben watches amy
    assert amy["api"].put(f"/api/contacts/{dot['user']['id']}").status_code == 204  # not the reverse
    ben_ws, cal_ws, dot_ws = (WS(server.url, p["token"]) for p in (ben, cal, dot))
    try:
        ben_ws.drain()
        phone = WS(server.url, amy["token"])
        online = ben_ws.wait("presence", user_id=amy_id)
        assert online["status"] == "online"
        assert online["last_seen"] is None or RFC3339_MS.match(online["last_seen"])

        laptop = WS(server.url, amy["token"])  # a second device: no news for anyone
        assert _presence_events(ben_ws, 0.5) == []
        assert _contacts(ben["api"])[amy_id]["presence"]["status"] == "online"

        phone.close()  # one device left: still online, even well after the grace period
        time.sleep(GRACE + 1)
        assert _presence_events(ben_ws, 0.3) == []
        assert _contacts(ben["api"])[amy_id]["presence"]["status"] == "online"

        closed_at = time.monotonic()
        laptop.close()  # the last one: offline, but only after the grace period
        offline = ben_ws.wait("presence", timeout=GRACE + 5, user_id=amy_id)
        waited = time.monotonic() - closed_at
        assert offline["status"] == "offline"
        assert waited >= GRACE * 0.8, f"offline reported {waited:.2f}s after close, before the grace period"
        assert RFC3339_MS.match(offline["last_seen"]), offline
        listed = _contacts(ben["api"])[amy_id]["presence"]
        assert listed["status"] == "offline" and listed["last_seen"] == offline["last_seen"]
        assert _presence_events(ben_ws, 0.3) == []  # exactly one online and one offline

        # nobody else heard a thing: not a teammate without amy as contact, not amy's own contact
        assert [f for f in cal_ws.drain(0.2) if f["type"] == "presence"] == []
        assert [f for f in dot_ws.drain(0.2) if f["type"] == "presence"] == []
    finally:
        for ws in (ben_ws, cal_ws, dot_ws):
            ws.close()


def test_quick_reconnect_does_not_flap(api, server):
    _, people = make_team(api, "gil", "hal")
    gil, hal = people["gil"], people["hal"]
    gil_id = gil["user"]["id"]
    assert hal["api"].put(f"/api/contacts/{gil_id}").status_code == 204
    hal_ws = WS(server.url, hal["token"])
    try:
        first = WS(server.url, gil["token"])
        assert hal_ws.wait("presence", user_id=gil_id)["status"] == "online"
        first.close()
        time.sleep(GRACE * 0.3)
        second = WS(server.url, gil["token"])  # back within the grace period
        events = _presence_events(hal_ws, GRACE + 1)
        assert events == [], f"presence flapped on a quick reconnect: {events}"
        assert _contacts(hal["api"])[gil_id]["presence"]["status"] == "online"
        second.close()
        assert hal_ws.wait("presence", timeout=GRACE + 5, user_id=gil_id)["status"] == "offline"
        # a later reconnect (after the grace period) is news again
        third = WS(server.url, gil["token"])
        assert hal_ws.wait("presence", user_id=gil_id)["status"] == "online"
        third.close()
    finally:
        hal_ws.close()


def test_presence_reaches_every_device_of_every_watcher(api, server):
    _, people = make_team(api, "ida", "jon", "kim")
    ida, jon, kim = people["ida"], people["jon"], people["kim"]
    for watcher in (jon, kim):
        assert watcher["api"].put(f"/api/contacts/{ida['user']['id']}").status_code == 204
    watchers = [WS(server.url, jon["token"]), WS(server.url, jon["token"]), WS(server.url, kim["token"])]
    try:
        ida_ws = WS(server.url, ida["token"])
        for ws in watchers:
            assert ws.wait("presence", user_id=ida["user"]["id"])["status"] == "online"
        ida_ws.close()
        for ws in watchers:
            assert ws.wait("presence", timeout=GRACE + 5, user_id=ida["user"]["id"])["status"] == "offline"
    finally:
        for ws in watchers:
            ws.close()


def test_removed_contact_stops_receiving_presence(api, server):
    _, people = make_team(api, "lee", "max")
    lee, max_ = people["lee"], people["max"]
    lee_id = lee["user"]["id"]
    assert max_["api"].put(f"/api/contacts/{lee_id}").status_code == 204
    assert max_["api"].delete(f"/api/contacts/{lee_id}").status_code == 204
    max_ws = WS(server.url, max_["token"])
    try:
        lee_ws = WS(server.url, lee["token"])
        assert _presence_events(max_ws, 0.5) == []
        lee_ws.close()
        assert _presence_events(max_ws, GRACE + 1) == []
    finally:
        max_ws.close()


# -- isolation between teams ------------------------------------------------------------------

def test_team_cannot_see_or_touch_another_teams_users(api, server):
    team_a, a = make_team(api, "alpha")
    team_b, b = make_team(api, "bravo", "bruno")
    alpha, bravo = a["alpha"], b["bravo"]
    bravo_id = bravo["user"]["id"]

    # not in the directory, whatever the query
    for params in ({}, {"q": "b"}, {"q": "bravo"}):
        users = alpha["api"].get("/api/users", params=params).json()["users"]
        assert all(u["team_id"] == team_a["id"] for u in users)
        assert bravo_id not in {u["id"] for u in users}

    # adding or removing answers exactly like a user who does not exist
    r = alpha["api"].put(f"/api/contacts/{bravo_id}")
    missing = alpha["api"].put("/api/contacts/999999999999")
    assert r.status_code == 404 and missing.status_code == 404
    assert r.json() == missing.json()
    assert alpha["api"].delete(f"/api/contacts/{bravo_id}").status_code == 404
    assert _contacts(alpha["api"]) == {}

    # and bravo's comings and goings are never pushed to alpha
    alpha_ws = WS(server.url, alpha["token"])
    try:
        bravo_ws = WS(server.url, bravo["token"])
        bravo_ws.close()
        frames = alpha_ws.drain(GRACE + 1)
        assert [f for f in frames if f["type"] == "presence"] == []
        assert bravo_id not in str(frames)
    finally:
        alpha_ws.close()

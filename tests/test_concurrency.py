"""Twenty people talking at once in one group chat: every member connection gets every
message exactly once, all connections agree on one order, that order is ascending by id,
and history answers the very same order."""
import threading
import time

import websocket

from tests.helpers import WS, Api, make_team

CLIENTS = 20
PER_CLIENT = 50
TOTAL = CLIENTS * PER_CLIENT


def test_twenty_clients_sending_fifty_messages_each_at_once(server):
    names = [f"u{i:02d}" for i in range(CLIENTS)]
    team, people = make_team(Api(server.url), *names)
    owner = people[names[0]]
    sockets = {n: WS(server.url, people[n]["token"], timeout=60) for n in names}
    r = owner["api"].post("/api/chats", json={
        "member_ids": [people[n]["user"]["id"] for n in names], "title": "everyone"})
    assert r.status_code == 201, r.text
    chat_id = r.json()["id"]
    for ws in sockets.values():
        ws.wait("chat", timeout=30)

    start = threading.Barrier(CLIENTS)
    results: dict[str, dict] = {}
    errors: list[str] = []

    def client(name: str):
        ws = sockets[name]
        acks, events, other = [], [], []
        try:
            start.wait(60)
            for i in range(PER_CLIENT):  # all at once: no waiting for acks in between
                ws.send({"type": "send", "chat_id": chat_id, "body": f"{name} says {i}",
                         "client_msg_id": f"{name}-{i}", "ref": f"{name}-{i}"})
            deadline = time.monotonic() + 180
            while len(acks) < PER_CLIENT or len(events) < TOTAL:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{name}: {len(acks)} acks, {len(events)} events")
                frame = ws.recv(remaining)
                if frame["type"] == "ack":
                    acks.append(frame)
                elif frame["type"] == "message":
                    events.append(frame["message"])
                else:
                    other.append(frame)
            # Anything more (a duplicate) would arrive now.
            try:
                while True:
                    frame = ws.recv(1.0)
                    (events.append(frame["message"]) if frame["type"] == "message" else other.append(frame))
            except (websocket.WebSocketTimeoutException, TimeoutError):
                pass
        except Exception as exc:  # reported by the main thread
            errors.append(f"{name}: {exc!r}")
        results[name] = {"acks": acks, "events": events, "other": other}

    threads = [threading.Thread(target=client, args=(n,)) for n in names]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert not errors, errors
        assert all(not t.is_alive() for t in threads)

        acked = {}
        for name in names:
            got = results[name]
            assert not got["other"], f"{name} got unexpected frames: {got['other'][:3]}"
            assert len(got["acks"]) == PER_CLIENT
            for ack in got["acks"]:
                assert ack["ref"] == ack["client_msg_id"], ack
                m = ack["message"]
                assert m["sender_id"] == people[name]["user"]["id"] and m["chat_id"] == chat_id
                assert m["body"] == "{} says {}".format(*ack["client_msg_id"].rsplit("-", 1)), m
                acked[m["id"]] = m
            # One client's own messages keep the order she sent them in.
            own = [int(a["message"]["id"]) for a in sorted(got["acks"], key=lambda a: int(a["ref"].rsplit("-", 1)[1]))]
            assert own == sorted(own), f"{name}'s messages out of her sending order"
        assert len(acked) == TOTAL, "every send acked with its own message"

        reference = [m["id"] for m in results[names[0]]["events"]]
        assert [int(x) for x in reference] == sorted(int(x) for x in reference), "ascending by id"
        assert len(reference) == TOTAL and set(reference) == set(acked), "every message exactly once"
        for name in names:
            order = [m["id"] for m in results[name]["events"]]
            assert order == reference, f"{name} saw another order (or duplicates)"
            assert all(m == acked[m["id"]] for m in results[name]["events"])

        # History, paged back over the whole chat (more than the in-memory tail), agrees.
        history, before = [], None
        while True:
            params = {"limit": 200, **({"before": before} if before else {})}
            page = people[names[7]]["api"].get(f"/api/chats/{chat_id}/messages", params=params).json()
            history[:0] = page["messages"]
            if not page["has_more"]:
                break
            before = page["messages"][0]["id"]
        assert [m["id"] for m in history] == reference
        assert history == [acked[i] for i in reference]
        listed = owner["api"].get("/api/chats").json()["chats"]
        assert listed[0]["id"] == chat_id and listed[0]["last_message"]["id"] == reference[-1]
    finally:
        for ws in sockets.values():
            ws.close()

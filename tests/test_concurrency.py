"""Twenty people talking at once in one group chat: every member connection gets every
message exactly once, all connections agree on one order, that order is ascending by id,
and history answers the very same order."""
import threading
from collections import Counter

from tests.helpers import WS, Api, create_chat, make_team, whole_history

CLIENTS = 20
PER_CLIENT = 50
TOTAL = CLIENTS * PER_CLIENT


def test_twenty_clients_sending_fifty_messages_each_at_once(server):
    names = [f"u{i:02d}" for i in range(CLIENTS)]
    team, people = make_team(Api(server.url), *names)
    owner = people[names[0]]
    sockets = {n: WS(server.url, people[n]["token"], timeout=60) for n in names}
    chat_id = create_chat(owner, *(people[n] for n in names), title="everyone")["id"]
    for ws in sockets.values():
        ws.wait("chat", timeout=30)

    start = threading.Barrier(CLIENTS)
    results: dict[str, dict] = {}
    errors: list[str] = []

    def client(name: str):
        ws = sockets[name]
        first = len(ws.frames)   # what arrives from now on

        def frames(type_=None):
            new = ws.frames[first:]
            if type_ is None:
                return [f for f in new if f["type"] not in ("ack", "message")]
            return [f for f in new if f["type"] == type_]

        try:
            start.wait(60)
            for i in range(PER_CLIENT):  # all at once: no waiting for acks in between
                ws.send({"type": "send", "chat_id": chat_id, "body": f"{name} says {i}",
                         "client_msg_id": f"{name}-{i}", "ref": f"{name}-{i}"})
            counts = Counter()

            def read(remaining):
                counts[ws.recv(remaining)["type"]] += 1

            ws.read_until(lambda: True if counts["ack"] >= PER_CLIENT and counts["message"] >= TOTAL else None,
                          180, lambda: f"{name}: {counts['ack']} acks, {counts['message']} events", read)
            ws.drain(1.0)   # anything more (a duplicate) would arrive now
        except Exception as exc:  # reported by the main thread
            errors.append(f"{name}: {exc!r}")
        results[name] = {"acks": frames("ack"), "events": [f["message"] for f in frames("message")],
                         "other": frames()}

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
        history = whole_history(people[names[7]], chat_id)
        assert [m["id"] for m in history] == reference
        assert history == [acked[i] for i in reference]
        listed = owner["api"].get("/api/chats").json()["chats"]
        assert listed[0]["id"] == chat_id and listed[0]["last_message"]["id"] == reference[-1]
    finally:
        for ws in sockets.values():
            ws.close()

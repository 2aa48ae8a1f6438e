"""Retention benchmark: ``scripts/bench retention [--messages 300000] [--sends 200]``.

Loads N backdated messages (one team, 100 chats, ages spread over a year; 10% younger than
the policy) straight into a fresh index prefix with ``_bulk`` (as an import writes them),
sets a 30-day team policy and a legal hold on one chat, then times one retention run
(chatsvc.chat.retention.run: searches of 5,000 ids, one ``_bulk`` delete each) and reports
deleted messages/s. With ``--sends R``, a writer stores R single-message ``_bulk`` writes
per second during the run (the engine step a send waits for) and reports their p50/p99.
The prefix is removed afterwards unless --keep-prefix.

Target (issue 17): >= 20,000 messages/s deleted.
"""
import argparse
import os
import random
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from chatsvc import jsonfast  # noqa: E402
from chatsvc.chat import retention  # noqa: E402
from chatsvc.config import Config  # noqa: E402
from chatsvc.ids import SnowflakeGenerator, id_at, id_time, now_iso  # noqa: E402
from chatsvc.store import Engine  # noqa: E402
from chatsvc.store import compliance as compliance_store  # noqa: E402
from chatsvc.store.indices import bootstrap, drop_deployment  # noqa: E402
from chatsvc.store.messages import index_for, refresh  # noqa: E402

TARGET = 20_000
DAY_MS = 86_400_000


def load(engine: Engine, team_id: str, chats: list[str], n: int, seed: int = 5) -> int:
    rng = random.Random(seed)
    now_ms = int(time.time() * 1000)
    young = 0

    def docs(start, count):
        out = []
        for i in range(start, start + count):
            if i % 10 == 0:
                age = rng.randrange(0, 29 * DAY_MS)
            else:
                age = rng.randrange(31 * DAY_MS, 395 * DAY_MS)
            mid = id_at(now_ms - age, 900 + i % 100, (i // 100) % 4096)
            chat = chats[i % len(chats)]
            out.append({"id": mid, "chat_id": chat, "team_id": team_id, "sender_id": f"u{i % 50}",
                        "body": f"message {i} about the quarterly numbers and the plan", "created_at": id_time(mid),
                        "client_msg_id": f"b{i}", "liked_by": [], "like_count": 0, "hidden_for": [],
                        "deleted": False})
        return out

    def write(start):
        batch = docs(start, min(5000, n - start))
        body = b"".join(jsonfast.dumpb({"index": {"_index": index_for(engine, d["id"]), "_id": str(d["id"]),
                                                  "routing": d["chat_id"]}}) + b"\n" + jsonfast.dumpb(d) + b"\n"
                        for d in batch)
        resp = engine.call("bulk", body=body, params={"filter_path": "errors", "request_timeout": 300})
        assert not resp.get("errors"), resp
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(write, range(0, n, 5000)))
    young = len(range(0, n, 10))
    refresh(engine)
    return young


def sender(engine: Engine, rate: float, stop: threading.Event, latencies: list, team_id: str):
    ids = SnowflakeGenerator(1)
    interval = 1.0 / rate
    nxt = time.monotonic()
    while not stop.is_set():
        mid = ids.next_id()
        doc = {"id": mid, "chat_id": "live", "team_id": team_id, "sender_id": "live", "body": "live send",
               "created_at": id_time(mid), "client_msg_id": f"l{mid}", "liked_by": [], "like_count": 0,
               "hidden_for": [], "deleted": False}
        body = jsonfast.dumpb({"index": {"_index": index_for(engine, mid), "_id": str(mid), "routing": "live"}}) \
            + b"\n" + jsonfast.dumpb(doc) + b"\n"
        t = time.monotonic()
        engine.call("bulk", body=body, params={"filter_path": "errors"})
        latencies.append(time.monotonic() - t)
        nxt += interval
        time.sleep(max(0.0, nxt - time.monotonic()))


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--sends", type=float, default=0, help="concurrent single-message writes per second")
    parser.add_argument("--baseline-seconds", type=float, default=10,
                        help="with --sends: measure the writes this long before the run, for comparison")
    parser.add_argument("--keep-prefix", action="store_true")
    args = parser.parse_args(argv)
    config = Config.from_env(os.environ)
    prefix = f"bench-retention-{uuid.uuid4().hex[:6]}"
    engine = Engine(config.search_url, prefix, pool_size=8, timeout=300)
    try:
        bootstrap(engine)
        team_id = "1000"
        chats = [str(2000 + i) for i in range(100)]
        t = time.monotonic()
        young = load(engine, team_id, chats, args.messages)
        print(f"loaded {args.messages:,} backdated messages in {time.monotonic() - t:.1f} s", flush=True)
        compliance_store.put_policy(engine, team_id, None, 30, now_iso(), "bench")
        compliance_store.put_hold(engine, {"id": "1", "team_id": team_id, "name": "bench", "name_key": "bench",
                                           "reason": "bench", "user_ids": [], "chat_ids": [chats[1]], "active": True,
                                           "created_at": now_iso(), "created_by": "bench"})
        ids = SnowflakeGenerator(2)
        t = time.monotonic()
        dry = retention.run(engine, ids, team_ids=[team_id], dry_run=True)
        print(f"dry run: would delete {dry.total:,} messages in {len(dry.teams[0].chats)} chats "
              f"({time.monotonic() - t:.2f} s)", flush=True)
        stop, latencies = threading.Event(), []
        writer, baseline = None, []
        if args.sends:
            writer = threading.Thread(target=sender, args=(engine, args.sends, stop, latencies, team_id), daemon=True)
            writer.start()
            time.sleep(1)
            latencies.clear()
            time.sleep(args.baseline_seconds)   # the same writes with no retention running
            baseline = latencies[:]
            latencies.clear()
        t = time.monotonic()
        report = retention.run(engine, ids, team_ids=[team_id])
        elapsed = time.monotonic() - t
        stop.set()
        if writer:
            writer.join()
        rate = report.total / elapsed
        print(f"retention: deleted {report.total:,} messages in {elapsed:.2f} s = {rate:,.0f} messages/s "
              f"(kept {young:,} younger, {args.messages - young - report.total:,} held); "
              f"target {TARGET:,}/s: {'met' if rate >= TARGET else 'not met'}")
        if latencies:
            p99 = _p99(latencies)
            print(f"concurrent writes during the run: {len(latencies):,} at {args.sends:g}/s, "
                  f"p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
            if baseline:
                before = _p99(baseline)
                print(f"  the same writes for {args.baseline_seconds:g} s before the run: p50 "
                      f"{statistics.median(baseline) * 1000:.1f} ms, p99 {before * 1000:.1f} ms; "
                      f"p99 raised by {(p99 - before) * 1000:.1f} ms (target <= 20 ms: "
                      f"{'met' if p99 - before <= 0.020 else 'not met'})")
    finally:
        if not args.keep_prefix:
            drop_deployment(engine)
    return 0


if __name__ == "__main__":
    sys.exit(main())

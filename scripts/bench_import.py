"""Slack import benchmark: ``scripts/bench import [--messages 1000000] [--keep-zip PATH]``.

Generates a Slack workspace export of N messages (fixed seed: 200 users, 40 channels, 60
DMs over the year 2025; bodies from scripts/corpus.py, with the odd reaction (emoji, likes,
skin tones), thread reply (some also in the channel), edit and file), then imports it with chatsvc's importer (chatsvc.chat.slack_import.import_slack,
what ``scripts/import slack`` runs, minus the process start-up) into a fresh index prefix,
and reports messages/s: of the whole import (checking the archive included) and of the
write pass alone. The prefix is removed afterwards unless --keep-prefix.

Target (docs/benchmarks.md): >= 10,000 messages/s.
"""
import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
import zipfile


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from corpus import FIRST, make_body  # noqa: E402

from chatsvc.chat.context import ChatContext  # noqa: E402
from chatsvc.chat.events import NullPublisher  # noqa: E402
from chatsvc.chat.slack_import import import_slack, summary_lines  # noqa: E402
from chatsvc.config import Config  # noqa: E402
from chatsvc.store import Engine  # noqa: E402
from chatsvc.store.indices import bootstrap, drop_deployment  # noqa: E402

TARGET = 10_000
START = 1735689600  # 2025-01-01T00:00:00Z
YEAR = 365 * 86400


def generate(path: str, n: int, seed: int = 11) -> int:
    rng = random.Random(seed)
    users = [{"id": f"U{i:05d}", "name": f"{FIRST[i % len(FIRST)]}{i}", "real_name": f"{FIRST[i % len(FIRST)].title()} {i}"}
             for i in range(200)]
    names = [u["name"] for u in users]
    channels = []
    for i in range(40):
        members = rng.sample(users, rng.randint(5, 60))
        channels.append({"id": f"C{i:05d}", "name": f"channel-{i}", "created": START - 86400,
                         "members": [u["id"] for u in members]})
    dms = []
    for i in range(60):
        a, b = rng.sample(users, 2)
        dms.append({"id": f"D{i:05d}", "created": START - 86400, "members": [a["id"], b["id"]]})
    convs = [(c["name"], c["members"]) for c in channels] + [(d["id"], d["members"]) for d in dms]
    weights = [1.0 / (k + 1) for k in range(len(convs))]
    counts = [0] * len(convs)
    for k in rng.choices(range(len(convs)), weights, k=n):
        counts[k] += 1
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("users.json", json.dumps(users))
        z.writestr("channels.json", json.dumps(channels))
        z.writestr("dms.json", json.dumps(dms))
        for (folder, members), count in zip(convs, counts):
            times = sorted(rng.randrange(0, YEAR * 1_000_000) for _ in range(count))
            by_day: dict[str, list] = {}
            recent: list[dict] = []   # the conversation's latest top-level messages: roots to reply to
            for t in times:
                us = START * 1_000_000 + t
                msg = {"type": "message", "user": rng.choice(members), "text": make_body(rng, names, names),
                       "ts": f"{us // 1_000_000}.{us % 1_000_000:06d}"}
                r = rng.random()
                if r < 0.05:
                    msg["reactions"] = [{"name": rng.choice(["+1", "tada", "eyes", "heart", "+1::skin-tone-3"]),
                                         "users": rng.sample(members, min(2, len(members))), "count": 2}]
                elif r < 0.06:
                    msg["files"] = [{"id": "F1", "name": "report.pdf", "url_private": "https://files.example.com/report.pdf"}]
                elif r < 0.10 and recent:   # a thread reply, now and then also sent to the channel
                    root = rng.choice(recent)
                    root["thread_ts"] = root["ts"]
                    root["reply_count"] = root.get("reply_count", 0) + 1
                    msg["thread_ts"] = root["ts"]
                    if r < 0.065:
                        msg["subtype"] = "thread_broadcast"
                elif r < 0.105:
                    msg["edited"] = {"user": msg["user"], "ts": f"{us // 1_000_000 + 60}.000000"}
                if "thread_ts" not in msg:
                    recent = (recent + [msg])[-20:]
                day = time.strftime("%Y-%m-%d", time.gmtime(us // 1_000_000))
                by_day.setdefault(day, []).append(msg)
            for day, msgs in by_day.items():
                z.writestr(f"{folder}/{day}.json", json.dumps(msgs))
    return n


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--zip", help="use (or keep) the generated export at this path")
    parser.add_argument("--keep-prefix", action="store_true")
    parser.add_argument("--profile", action="store_true", help="profile the import with pyinstrument")
    args = parser.parse_args(argv)
    config = Config.from_env(os.environ)
    path = args.zip or os.path.join(tempfile.gettempdir(), f"bench-slack-v2-{args.messages}.zip")
    if not os.path.exists(path):
        t = time.monotonic()
        generate(path, args.messages)
        print(f"generated {args.messages:,} messages -> {path} ({os.path.getsize(path) / 1e6:.0f} MB) "
              f"in {time.monotonic() - t:.0f} s", flush=True)
    prefix = f"bench-import-{uuid.uuid4().hex[:6]}"
    engine = Engine(config.search_url, prefix, pool_size=4, timeout=300)
    bootstrap(engine)
    ctx = ChatContext(config, engine, NullPublisher())
    stamps = {}

    def progress_factory(total, label):
        stamps["write_start"] = time.monotonic()
        return None
    profiler = None
    if args.profile:
        from pyinstrument import Profiler  # noqa: PLC0415
        profiler = Profiler()
        profiler.start()
    try:
        t = time.monotonic()
        summary = import_slack(ctx, path, "bench", progress_factory=progress_factory)
        total_s = time.monotonic() - t
        if profiler:
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False, show_all=False)[:12000])
        write_s = time.monotonic() - stamps["write_start"]
        for line in summary_lines(summary):
            print("  " + line)
        n = summary.messages_imported
        rate = n / total_s
        print(f"import: {n:,} messages in {total_s:.1f} s = {rate:,.0f} messages/s overall "
              f"(check pass {stamps['write_start'] - t:.1f} s; write pass {n / write_s:,.0f} messages/s); "
              f"target {TARGET:,}/s: {'met' if rate >= TARGET else 'not met'}")
    finally:
        if not args.keep_prefix:
            drop_deployment(engine)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""scripts/bench soak: memory and latency held over a long run.

Against a running server (``--url``): ``--connections`` WebSockets (one per user, in chats
of 10, every member connected) while ``--rate`` messages/s in total are sent for
``--minutes`` (default 10; ``--minutes 1`` for a short check). Before connecting, each chat
gets ``--history`` messages (default 100, the server's default tail) through the REST API,
as the chats of a team that has been talking (or imported its Slack history) have, so the
run starts with the chats' tails in memory as a server that has been up for a while has
them (``--history 0``: fresh, empty chats, whose tails fill during the first minute).
Reports the server worker's RSS when every connection is open and when sending stops
(target: within 10%), error
frames and connections the server closed (target: 0), and send -> delivery p50/p99 for
each minute. The load client is scripts/wsload (Go; built on first use).

Start the server with the setup's limits raised, since the run signs up thousands of users
from one address: CHATSVC_THROTTLE_SCALE=1000 (and CHATSVC_MAX_CONNECTIONS above
--connections).
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import gevent.pool  # noqa: E402
import requests  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from bench_connections import find_worker  # noqa: E402
from bench_send import WSLOAD_BIN, WSLOAD_SRC, make_chat, make_team  # noqa: E402


def build_wsload():
    newest = max(os.path.getmtime(os.path.join(WSLOAD_SRC, f)) for f in os.listdir(WSLOAD_SRC))
    if not os.path.exists(WSLOAD_BIN) or os.path.getmtime(WSLOAD_BIN) < newest:
        os.makedirs(os.path.dirname(WSLOAD_BIN), exist_ok=True)
        subprocess.run(["go", "build", "-o", WSLOAD_BIN, "."], cwd=WSLOAD_SRC, check=True)


def setup(url: str, connections: int) -> list[dict]:
    """Teams of up to 500 users, split into chats of 10 (made through the REST API)."""
    chats = []
    for start in range(0, connections, 500):
        _, users = make_team(url, min(500, connections - start))
        for i in range(0, len(users) - 9, 10):
            group = users[i:i + 10]
            chats.append({"chat_id": make_chat(url, group[0], group[1:]),
                          "tokens": [m["token"] for m in group]})
    return chats


def seed_history(url: str, chats: list[dict], per_chat: int):
    """``per_chat`` messages in every chat, sent over REST by its members in turn."""
    session = requests.Session()
    tag = uuid.uuid4().hex[:8]

    def post(job):
        chat, i = job
        token = chat["tokens"][i % len(chat["tokens"])]
        r = session.post(f"{url}/api/chats/{chat['chat_id']}/messages", timeout=60,
                         headers={"Authorization": f"Bearer {token}"},
                         json={"body": f"earlier message {i} of this chat", "client_msg_id": f"h{tag}-{i}"})
        r.raise_for_status()

    jobs = [(chat, i) for i in range(per_chat) for chat in chats]
    for _ in gevent.pool.Pool(16).imap_unordered(post, jobs):
        pass


def run(url: str, chats: list[dict], rate: float, seconds: float, worker) -> dict:
    job = {"mode": "soak", "ws_url": url.replace("http", "ws", 1) + "/ws", "seconds": seconds,
           "warmup": 5.0, "rate": rate, "chats": chats}
    proc = subprocess.Popen([WSLOAD_BIN], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    rss = {}

    def sample_each_minute():
        """The RSS once a minute from "ready" on: whether growth is the caches warming
        up to their bounds (tails, recent ids) or keeps going."""
        minute = 0
        while "end" not in rss:
            time.sleep(60)
            minute += 1
            if "end" not in rss:
                rss.setdefault("minutes", []).append(worker.memory_info().rss)
                print(f"  minute {minute}: server RSS {rss['minutes'][-1] / 2**20:.1f} MiB", flush=True)

    def watch_progress():
        for line in proc.stderr:
            if line.strip() == "ready":
                threading.Thread(target=sample_each_minute, daemon=True).start()
            if line.strip() in ("ready", "end"):
                rss[line.strip()] = worker.memory_info().rss
                print(f"  {line.strip()}: server RSS {rss[line.strip()] / 2**20:.1f} MiB", flush=True)
            else:
                print("  wsload:", line.rstrip(), flush=True)

    watcher = threading.Thread(target=watch_progress, daemon=True)
    watcher.start()
    # stdin and stdout by hand: communicate() would read stderr too, beside the watcher.
    proc.stdin.write(json.dumps(job))
    proc.stdin.close()
    out = proc.stdout.read()
    proc.wait()
    watcher.join(5)
    if proc.returncode != 0:
        sys.exit(f"wsload failed (exit {proc.returncode})")
    result = json.loads(out)
    result["rss_start"], result["rss_end"] = rss.get("ready"), rss.get("end")
    result["rss_minutes"] = rss.get("minutes", [])
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--connections", type=int, default=2000)
    p.add_argument("--rate", type=float, default=500, help="messages/s in total")
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--pid", type=int, help="server worker (or gunicorn master) pid")
    p.add_argument("--history", type=int, default=100,
                   help="messages each chat holds before the run (0: fresh chats)")
    args = p.parse_args()
    build_wsload()
    worker = find_worker(args.url, args.pid)
    started = time.monotonic()
    chats = setup(args.url, args.connections)
    seed_history(args.url, chats, args.history)
    print(f"setup: {sum(len(c['tokens']) for c in chats)} users in {len(chats)} chats of 10, "
          f"{args.history} earlier messages each ({time.monotonic() - started:.0f} s); "
          f"soak {args.minutes:g} min at {args.rate:g} msg/s", flush=True)
    result = run(args.url, chats, args.rate, args.minutes * 60, worker)
    start, end = result["rss_start"], result["rss_end"]
    change = 100 * (end - start) / start
    print(f"RSS: {start / 2**20:.1f} MiB with every connection open, {end / 2**20:.1f} MiB at the end "
          f"({change:+.1f}%; target within 10%)")
    if len(result["rss_minutes"]) >= 3:
        warm = result["rss_minutes"][2]
        print(f"RSS after 3 minutes (tails filled) {warm / 2**20:.1f} MiB -> end {end / 2**20:.1f} MiB "
              f"({100 * (end - warm) / warm:+.1f}%)")
    print(f"errors: {result['errors']} error frames, {result['closed']} connections closed by the "
          f"server; {result['delivered']} deliveries")
    for m in result["minutes"]:
        print(f"  minute {m['minute']}: p50 {m['p50_ms']:.1f} ms, p99 {m['p99_ms']:.1f} ms "
              f"({m['delivered']} deliveries)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""scripts/bench send: the send path under load, beside the engine's own _bulk rate.

Against a running server (``--url``) and its engine (``--engine``), in one run:

1. raw:        the engine's ``_bulk`` rate for the same message documents (concurrent
               bulk requests into a scratch index made from the messages template);
2. throughput: ``--senders`` WebSocket connections, each in its own 10-member chat, send
               as fast as acks come back (``--window`` frames in flight each) for
               ``--seconds``; reports acked messages/s and the ratio to the raw rate;
3. latency:    10-member chats with every member connected; ``--rate`` messages/s in
               total, paced; reports send -> delivery latency p50/p99 over every
               delivered ``message`` event.

Numbers are medians of what one run saw; the machine is shared, so compare ratios. Start
the server with the flood limits raised: CHATSVC_FRAME_RATE, CHATSVC_FRAME_BURST,
CHATSVC_SEND_RATE and CHATSVC_SEND_BURST at 100000.
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import gevent  # noqa: E402
import gevent.lock  # noqa: E402
import gevent.pool  # noqa: E402
import requests  # noqa: E402
import websocket  # noqa: E402
from gevent.event import Event  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from chatsvc.ids import SnowflakeGenerator, format_time, id_datetime  # noqa: E402
from chatsvc.store import Engine  # noqa: E402
from chatsvc.store.indices import load_templates, template_body  # noqa: E402

WORDS = ("deploy build release ticket review merge branch the a to we it is on for "
         "server latency cache index query lunch meeting tomorrow today ok thanks").split()


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def body_text(i: int) -> str:
    return " ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(8 + i % 10))


# -- setup through the public API -----------------------------------------------------

def make_team(url: str, members: int) -> tuple[dict, list[dict]]:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    r = requests.post(f"{url}/api/teams", json={"name": name, "username": "u0", "display_name": "User 0",
                                                "password": "password123"}, timeout=30)
    r.raise_for_status()
    created = r.json()
    team = created["team"]
    users = [{"user": created["user"], "token": created["token"]}]

    def signup(i):
        r = requests.post(f"{url}/api/auth/signup", json={
            "team": team["name"], "invite_code": team["invite_code"], "username": f"u{i}",
            "display_name": f"User {i}", "password": "password123"}, timeout=60)
        r.raise_for_status()
        return r.json()

    pool = gevent.pool.Pool(8)
    users += list(pool.imap(signup, range(1, members)))
    return team, users


def make_chat(url: str, owner: dict, members: list[dict]) -> str:
    r = requests.post(f"{url}/api/chats", headers={"Authorization": f"Bearer {owner['token']}"},
                      json={"member_ids": [m["user"]["id"] for m in members], "title": "bench"}, timeout=30)
    r.raise_for_status()
    return r.json()["id"]


class Client:
    """One authenticated WebSocket; a reader greenlet dispatches frames to callbacks."""

    def __init__(self, ws_url: str, token: str):
        team = token.split(".", 1)[0] if "." in token else ""
        if team.isdigit() and "?" not in ws_url:   # the scale-out proxy's routing key
            ws_url += f"?team={team}"
        self.sock = websocket.create_connection(ws_url, timeout=60)
        self.sock.send(json.dumps({"type": "auth", "token": token}))
        while json.loads(self.sock.recv())["type"] != "ready":
            pass
        self.on_frame = None
        self.errors = 0
        self.reader = gevent.spawn(self._read)

    def _read(self):
        try:
            while True:
                frame = json.loads(self.sock.recv())
                if frame["type"] == "error":
                    self.errors += 1
                if self.on_frame:
                    self.on_frame(frame)
        except Exception:
            pass

    def send(self, frame: dict):
        self.sock.send(json.dumps(frame))

    def close(self):
        self.reader.kill(block=False)
        try:
            self.sock.close()
        except Exception:
            pass


# -- 1. the engine's raw _bulk rate -----------------------------------------------------

def raw_bulk_rate(engine_url: str, docs: int, batch: int, concurrency: int) -> float:
    engine = Engine(engine_url, f"benchraw-{uuid.uuid4().hex[:6]}", pool_size=concurrency + 2)
    spec = load_templates()["messages"]
    engine.call("indices.put_index_template", name=engine.index("messages"),
                body=template_body(engine, "messages", spec))
    ids = SnowflakeGenerator(1)
    chats = [str(1000 + i) for i in range(40)]

    def doc(i):
        mid = ids.next_id()
        return mid, {"id": mid, "chat_id": chats[i % len(chats)], "team_id": "1", "sender_id": "2",
                     "body": body_text(i), "created_at": format_time(id_datetime(mid)),
                     "client_msg_id": f"c{i}", "liked_by": [], "like_count": 0, "hidden_for": [],
                     "deleted": False}

    bodies = []
    for start in range(0, docs, batch):
        lines = []
        for i in range(start, min(docs, start + batch)):
            mid, d = doc(i)
            index = engine.messages_index(id_datetime(mid).strftime("%Y.%m"))
            lines += [{"index": {"_index": index, "_id": str(mid), "routing": d["chat_id"]}}, d]
        bodies.append(lines)
    # warm-up creates the monthly index outside the timed part
    engine.call("bulk", body=bodies[0][:2])
    pending = list(bodies)
    t0 = time.perf_counter()

    def worker():
        while pending:
            engine.call("bulk", body=pending.pop())

    gevent.joinall([gevent.spawn(worker) for _ in range(concurrency)], raise_error=True)
    elapsed = time.perf_counter() - t0
    engine.call("indices.delete", index=f"{engine.prefix}-*")
    engine.call("indices.delete_index_template", name=engine.index("messages"))
    return docs / elapsed


# -- the Go load client -------------------------------------------------------------------

WSLOAD_SRC = os.path.join(ROOT, "scripts", "wsload")
WSLOAD_BIN = os.path.join(ROOT, "var", "bench", "wsload")


def go_client_available() -> bool:
    return shutil.which("go") is not None


def run_wsload(job: dict) -> dict:
    """Run one job in scripts/wsload (built on first use, or when its source changed)."""
    newest = max(os.path.getmtime(os.path.join(WSLOAD_SRC, f)) for f in os.listdir(WSLOAD_SRC))
    if not os.path.exists(WSLOAD_BIN) or os.path.getmtime(WSLOAD_BIN) < newest:
        os.makedirs(os.path.dirname(WSLOAD_BIN), exist_ok=True)
        subprocess.run(["go", "build", "-o", WSLOAD_BIN, "."], cwd=WSLOAD_SRC, check=True)
    out = subprocess.run([WSLOAD_BIN], input=json.dumps(job), capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"wsload failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


# -- 2. acked throughput -----------------------------------------------------------------

WARMUP_S = 1.0   # of each Go throughput run, not counted


def throughput(url: str, senders: int, window: int, seconds: float, go: bool,
               replies: float = 0.0, reactions: float = 0.0, mentions: float = 0.0, meter=None) -> dict:
    team, users = make_team(url, senders * 10)
    ws_url = url.replace("http", "ws", 1) + "/ws"
    chat_ids = [make_chat(url, users[i * 10], users[i * 10 + 1:(i + 1) * 10]) for i in range(senders)]
    if go:
        print(f"throughput: measuring (Go client; {replies:.0%} replies, {reactions:.0%} reactions, "
              f"{mentions:.0%} mentions)", flush=True)
        job = {"mode": "throughput", "ws_url": ws_url, "seconds": seconds, "warmup": WARMUP_S,
               "window": window, "replies": replies, "reactions": reactions, "mentions": mentions,
               "senders": [{"chat_id": cid, "token": users[i * 10]["token"],
                            "mention": users[i * 10 + 1]["user"]["username"]}
                           for i, cid in enumerate(chat_ids)]}
        if meter is not None:
            meter("start")
        out = run_wsload(job)
        if meter is not None:
            meter("end")
        return out
    if replies or reactions or mentions:
        sys.exit("--replies/--reactions/--mentions need the Go client")
    clients = [Client(ws_url, users[i * 10]["token"]) for i in range(senders)]
    acked = [0]
    errors = [0]
    stop_at = [None]

    def run(client: Client, chat_id: str):
        slots = gevent.lock.BoundedSemaphore(window)
        counter = [0]

        def on_frame(frame):
            if frame["type"] in ("ack", "error"):
                if frame["type"] == "ack":
                    acked[0] += 1
                else:
                    errors[0] += 1
                slots.release()

        client.on_frame = on_frame
        while time.perf_counter() < stop_at[0]:
            slots.acquire()
            counter[0] += 1
            client.send({"type": "send", "chat_id": chat_id, "body": body_text(counter[0]),
                         "client_msg_id": uuid.uuid4().hex, "ref": str(counter[0])})

    # warm-up: load every chat's tail, fill connection pools
    stop_at[0] = time.perf_counter() + 1.0
    gevent.joinall([gevent.spawn(run, c, cid) for c, cid in zip(clients, chat_ids)])
    gevent.sleep(1.0)
    acked[0] = errors[0] = 0
    print("throughput: measuring", flush=True)
    t0 = time.perf_counter()
    stop_at[0] = t0 + seconds
    gevent.joinall([gevent.spawn(run, c, cid) for c, cid in zip(clients, chat_ids)])
    gevent.sleep(0.5)  # let the last acks in
    elapsed = time.perf_counter() - t0
    for c in clients:
        c.close()
    return {"acked_per_s": acked[0] / elapsed, "acked": acked[0], "errors": errors[0]}


# -- 3. delivery latency at a fixed rate -------------------------------------------------

def latency(url: str, chats: int, rate: float, seconds: float, go: bool, repeat: int = 1) -> dict:
    """One run's figures; with the Go client and ``repeat`` > 1, the run with the median
    p99 of ``repeat`` runs over the same chats, and every run's p50/p99 under "runs"."""
    team, users = make_team(url, chats * 10)
    ws_url = url.replace("http", "ws", 1) + "/ws"
    groups = [users[i * 10:(i + 1) * 10] for i in range(chats)]
    chat_ids = [make_chat(url, g[0], g[1:]) for g in groups]
    if go:
        job = {"mode": "latency", "ws_url": ws_url, "seconds": seconds, "warmup": 1.0, "rate": rate,
               "chats": [{"chat_id": cid, "tokens": [m["token"] for m in g]} for g, cid in zip(groups, chat_ids)]}
        runs = sorted((run_wsload(job) for _ in range(max(1, repeat))), key=lambda r: r["p99_ms"])
        median = dict(runs[len(runs) // 2])
        median["runs"] = [(round(r["p50_ms"], 1), round(r["p99_ms"], 1)) for r in runs]
        return median
    samples: list[float] = []
    clients = []
    for g in groups:
        for member in g:
            c = Client(ws_url, member["token"])

            def on_frame(frame, _c=c):
                if frame["type"] == "message":
                    sent = float(frame["message"]["body"].split(" ", 1)[0])
                    samples.append(time.time() - sent)

            c.on_frame = on_frame
            clients.append(c)
    senders = [clients[i * 10] for i in range(chats)]
    interval = chats / rate  # each chat's sender sends every `interval` seconds
    done = Event()

    def pace(client, chat_id, offset):
        gevent.sleep(offset)
        n = 0
        start = time.perf_counter()
        while not done.is_set():
            n += 1
            client.send({"type": "send", "chat_id": chat_id, "client_msg_id": uuid.uuid4().hex,
                         "body": f"{time.time():.6f} {body_text(n)}"})
            next_at = start + n * interval
            gevent.sleep(max(0.0, next_at - time.perf_counter()))

    jobs = [gevent.spawn(pace, s, cid, i * interval / chats) for i, (s, cid) in enumerate(zip(senders, chat_ids))]
    gevent.sleep(1.0)  # warm-up
    samples.clear()
    gevent.sleep(seconds)
    done.set()
    gevent.joinall(jobs)
    gevent.sleep(0.5)
    for c in clients:
        c.close()
    ms = [s * 1000 for s in samples]
    return {"delivered": len(ms), "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99),
            "mean_ms": statistics.fmean(ms) if ms else float("nan"),
            "delivered_per_s": len(ms) / seconds, "errors": sum(c.errors for c in clients)}


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU of a process so far (Linux /proc), or None without a pid."""
    if not pid:
        return None
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def engine_cpu_seconds(engine_url: str) -> float:
    nodes = requests.get(f"{engine_url}/_nodes/stats/process", timeout=30).json()["nodes"]
    return sum(n["process"]["cpu"]["total_in_millis"] for n in nodes.values()) / 1000


def measured(args, go, replies=0.0, reactions=0.0, mentions=0.0) -> dict:
    """One throughput run, with the CPU the server (``--server-pid``) and the engine spent
    per answered frame while the load ran (Go client): on a shared machine those move far
    less than frames/s do."""
    cpu = {}

    def meter(phase):
        cpu[phase] = (cpu_seconds(args.server_pid), engine_cpu_seconds(args.engine))

    out = throughput(args.url, args.senders, args.window, args.seconds, go, replies, reactions, mentions,
                     meter=meter if go else None)
    if cpu:   # the CPU covers the warm-up second too: frames at the measured rate over both
        frames = max(1.0, out["acked_per_s"] * (args.seconds + WARMUP_S))
        (server0, engine0), (server1, engine1) = cpu["start"], cpu["end"]
        out["engine_us_per_frame"] = 1e6 * (engine1 - engine0) / frames
        if server0 is not None:
            out["server_us_per_frame"] = 1e6 * (server1 - server0) / frames
    return out


def _cpu_note(run: dict) -> str:
    if "engine_us_per_frame" not in run:
        return "CPU not measured"
    server = f"server {run['server_us_per_frame']:.0f} us, " if "server_us_per_frame" in run else ""
    return f"{server}engine {run['engine_us_per_frame']:.0f} us per frame"


def mix_rounds(args, go, first_plain: dict) -> dict:
    """The mix against plain sends: ``--rounds`` pairs in one run, each on fresh chats;
    reports every pair's ratio and their median. The order alternates (plain then mix, then
    mix then plain): every run leaves the engine more data, and throughput falls from one
    run to the next, so a fixed order would count that trend against the second of each pair."""
    pairs = []
    for i in range(args.rounds):
        if i % 2 == 0:
            plain = first_plain if i == 0 else measured(args, go)
            mix = measured(args, go, args.replies, args.reactions, args.mentions)
        else:
            mix = measured(args, go, args.replies, args.reactions, args.mentions)
            plain = measured(args, go)
        ratio = mix["acked_per_s"] / plain["acked_per_s"]
        pairs.append({"plain": plain, "mix": mix, "ratio": ratio})
        print(f"round {i + 1}: plain {plain['acked_per_s']:,.0f} acked/s ({_cpu_note(plain)}); mix "
              f"{mix['acked_per_s']:,.0f} answered frames/s ({mix['replies']} replies, {mix['reactions']} "
              f"reactions, {mix['mentions']} mentions, {mix['errors']} errors; {_cpu_note(mix)}): "
              f"{100 * ratio:.0f}% of plain", flush=True)
    ratios = [p["ratio"] for p in pairs]
    summary = {"rounds": pairs, "median_ratio": statistics.median(ratios)}
    print(f"throughput with the mix: median {100 * summary['median_ratio']:.0f}% of plain sends over "
          f"{len(pairs)} rounds ({', '.join(f'{100 * r:.0f}%' for r in ratios)})", flush=True)
    return summary


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--engine", default=os.environ.get("CHATSVC_SEARCH_URL", "http://127.0.0.1:9200"))
    p.add_argument("--senders", type=int, default=20)
    p.add_argument("--window", type=int, default=8, help="frames in flight per sender")
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--raw-docs", type=int, default=60000)
    p.add_argument("--raw-batch", type=int, default=1000)
    p.add_argument("--raw-concurrency", type=int, default=2)
    p.add_argument("--rate", type=float, default=1000, help="messages/s for the latency phase")
    p.add_argument("--latency-chats", type=int, default=10)
    p.add_argument("--repeat", type=int, default=5,
                   help="latency runs (Go client); the one with the median p99 is reported")
    p.add_argument("--client", choices=["go", "python"], default="go",
                   help="WebSocket load client: go (scripts/wsload; needs Go) or python (uses a "
                        "core of its own at 10,000 frames/s, so it measures itself)")
    p.add_argument("--replies", type=float, default=0.0,
                   help="share of sends that reply in a thread, in a second throughput run (e.g. 0.1)")
    p.add_argument("--reactions", type=float, default=0.0,
                   help="share of frames that react/unreact instead of sending, in that run (e.g. 0.2)")
    p.add_argument("--mentions", type=float, default=0.0,
                   help="share of sends that @mention a member of the chat, in that run (e.g. 0.05)")
    p.add_argument("--rounds", type=int, default=1,
                   help="with a mix: (plain, mix) pairs in this run, for a median ratio (e.g. 5)")
    p.add_argument("--server-pid", type=int, default=None,
                   help="the server's worker process, to report its CPU per frame (Linux)")
    p.add_argument("--skip", choices=["raw", "throughput", "latency"], action="append", default=[])
    # -- issue 18: the same cluster with all its instances and with one (scripts/bench_scaleout.py)
    p.add_argument("--scaleout", metavar="CLUSTER",
                   help="compare all of scripts/cluster's instances with one behind its proxy (--url)")
    p.add_argument("--teams", type=int, default=8, help="--scaleout: teams the senders are spread over")
    p.add_argument("--scaleout-rounds", type=int, default=3, help="--scaleout: alternating rounds")
    p.add_argument("--failovers", type=int, default=3, help="--scaleout: kill -9 failovers to time")
    args = p.parse_args()
    if args.scaleout:
        import bench_scaleout  # noqa: PLC0415 - scripts/ is this script's directory
        print(json.dumps(bench_scaleout.compare(args, sys.modules[__name__])))
        return
    go = args.client == "go"
    if go and not go_client_available():
        print("note: no Go toolchain on PATH; using the Python client (--client python)", flush=True)
        go = False

    results = {"client": "go" if go else "python"}
    if "raw" not in args.skip:
        results["raw_bulk_docs_per_s"] = raw_bulk_rate(args.engine, args.raw_docs, args.raw_batch,
                                                       args.raw_concurrency)
        print(f"raw _bulk: {results['raw_bulk_docs_per_s']:,.0f} docs/s "
              f"({args.raw_docs} docs, batches of {args.raw_batch}, {args.raw_concurrency} in flight)", flush=True)
    if "throughput" not in args.skip:
        t = measured(args, go)
        results["throughput"] = t
        line = f"throughput: {t['acked_per_s']:,.0f} acked messages/s ({t['acked']} in {args.seconds:.0f}s, " \
               f"{args.senders} senders x {args.window} in flight, {t['errors']} errors)"
        if "raw_bulk_docs_per_s" in results:
            line += f"; {100 * t['acked_per_s'] / results['raw_bulk_docs_per_s']:.0f}% of raw _bulk"
        print(line, flush=True)
        if args.replies or args.reactions or args.mentions:
            results["throughput_mix"] = mix_rounds(args, go, t)
    if "latency" not in args.skip:
        lat = latency(args.url, args.latency_chats, args.rate, args.seconds, go, args.repeat)
        results["latency"] = lat
        print(f"latency at {args.rate:.0f} msg/s into {args.latency_chats} chats of 10 (all connected): "
              f"p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms over {lat['delivered']} deliveries "
              f"({lat['delivered_per_s']:,.0f}/s), {lat['errors']} errors", flush=True)
        if "runs" in lat:
            print(f"  (median p99 of {len(lat['runs'])} runs; each run's p50/p99 ms: {lat['runs']})", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()

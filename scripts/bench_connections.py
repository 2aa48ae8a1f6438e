"""scripts/bench connections: N authenticated idle WebSocket connections against a running server.

    scripts/bench connections --url http://127.0.0.1:8000 --n 5000 [--pid PID]

Creates a team and a user over REST, opens N WebSocket connections from this one process
(gevent + websocket-client), authenticates each, and reports:
- the time to connect (and authenticate) them all, and the connect rate;
- the server worker's resident memory (RSS) before and after, and per connection in KiB
  (target, docs/benchmarks.md: <= 100 KiB per connection);
- that they are all still alive: after a settle period a ping on a sample (or all) must be
  answered with a pong.
Idle here means what a real client does when nobody talks: a ping every --keepalive seconds,
well inside the server's heartbeat timeout (60 s by default), so no connection is closed for
silence while the others are still connecting.

The server worker is --pid (a gunicorn master is resolved to its single worker), or found with
psutil as the process listening on the URL's port. The open-files limit is raised to the hard
limit; if that cannot cover N connections the script says so and stops.

Measure against a freshly started server: memory freed by earlier connections mostly stays
in the process (allocator arenas), so a second run on the same worker under-reports.
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from urllib.parse import urlparse  # noqa: E402

import gevent  # noqa: E402
import psutil  # noqa: E402
import requests  # noqa: E402
import websocket  # noqa: E402
from gevent.event import Event  # noqa: E402
from gevent.lock import Semaphore  # noqa: E402
from gevent.pool import Pool  # noqa: E402


def raise_nofile(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        sys.exit(f"open-files limit is {soft} (hard {hard}); {needed} are needed for this run. "
                 f"Raise the hard limit (ulimit -Hn / limits.conf) or lower --n.")
    return soft


def find_worker(url: str, pid: int | None) -> psutil.Process:
    if pid is None:
        port = urlparse(url).port or 80
        owners = {c.pid for c in psutil.net_connections(kind="tcp")
                  if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid}
        if not owners:
            sys.exit(f"no process found listening on port {port}; pass --pid")
        procs = [psutil.Process(p) for p in owners]
    else:
        procs = [psutil.Process(pid)]
    # gunicorn: the master and its worker share the listening socket; the worker serves.
    workers = []
    for proc in procs:
        children = [c for c in proc.children() if "gunicorn" in " ".join(c.cmdline())]
        workers.extend(children or [proc])
    workers = {w.pid: w for w in workers}
    workers = [w for w in workers.values() if not any(c.pid in workers for c in w.children())]
    if len(workers) != 1:
        sys.exit(f"expected one server worker, found {[w.pid for w in workers]}; pass --pid")
    return workers[0]


def rss(proc: psutil.Process) -> int:
    return proc.memory_info().rss


def create_user(url: str) -> str:
    r = requests.post(url + "/api/teams", json={"name": f"bench-conn-{uuid.uuid4().hex[:8]}",
                                                "username": "bench", "display_name": "Bench",
                                                "password": "bench-password"}, timeout=60)
    r.raise_for_status()
    return r.json()["token"]


class Client:
    __slots__ = ("ws", "lock", "alive")

    def __init__(self, ws):
        self.ws = ws
        self.lock = Semaphore()
        self.alive = True

    def ping(self, timeout: float = 30) -> bool:
        """Send a ping and read until its pong (events in between are skipped)."""
        ref = uuid.uuid4().hex[:12]
        with self.lock:
            try:
                self.ws.settimeout(timeout)
                self.ws.send(json.dumps({"type": "ping", "ref": ref}))
                while True:
                    frame = json.loads(self.ws.recv())
                    if frame.get("ref") == ref:
                        return frame.get("type") == "pong"
            except Exception:
                self.alive = False
                return False


def connect(ws_url: str, token: str, timeout: float) -> Client:
    ws = websocket.create_connection(ws_url, timeout=timeout)
    ws.send(json.dumps({"type": "auth", "token": token}))
    frame = json.loads(ws.recv())
    if frame.get("type") != "ready":
        ws.close()
        raise RuntimeError(f"auth refused: {frame}")
    return Client(ws)


def keepalive(clients: list, interval: float, stop: Event):
    """One ping per connection every ``interval`` s, spread evenly: an idle client's heartbeat."""
    while not stop.wait(interval):
        live = [c for c in clients if c.alive]
        gap = interval / max(1, len(live)) * 0.5
        for c in live:
            if stop.is_set():
                return
            gevent.spawn(c.ping)
            gevent.sleep(gap)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8000", help="the server's base URL")
    ap.add_argument("--n", type=int, default=5000, help="connections to open")
    ap.add_argument("--pid", type=int, help="server worker (or gunicorn master) pid")
    ap.add_argument("--concurrency", type=int, default=100, help="connects in flight at once")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds to wait before the after-RSS")
    ap.add_argument("--sample", type=int, default=500, help="connections pinged at the end (0 = all)")
    ap.add_argument("--keepalive", type=float, default=25.0, help="client ping interval, s")
    ap.add_argument("--timeout", type=float, default=30.0, help="per-connection connect/auth timeout, s")
    ap.add_argument("--hold", type=float, default=0.0, help="keep the connections open this long at the end")
    args = ap.parse_args(argv)

    limit = raise_nofile(args.n + 100)
    worker = find_worker(args.url, args.pid)
    ws_url = args.url.replace("http", "ws", 1).rstrip("/") + "/ws"
    token = create_user(args.url)
    print(f"server worker pid {worker.pid}; open-files limit {limit}; opening {args.n} connections "
          f"to {ws_url} ({args.concurrency} at a time)")

    # warm up: one connection in and out, so first-use costs (team load, imports) are not counted
    connect(ws_url, token, args.timeout).ws.close()
    gevent.sleep(1)
    before = rss(worker)

    clients: list[Client] = []
    errors: list[str] = []
    stop = Event()
    pinger = gevent.spawn(keepalive, clients, args.keepalive, stop)

    def one(_):
        try:
            clients.append(connect(ws_url, token, args.timeout))
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    t0 = time.perf_counter()
    pool = Pool(args.concurrency)
    for i in range(args.n):
        pool.spawn(one, i)
        if (i + 1) % 1000 == 0:
            print(f"  {i + 1} started, {len(clients)} ready, {len(errors)} failed, "
                  f"{time.perf_counter() - t0:.1f}s", flush=True)
    pool.join()
    elapsed = time.perf_counter() - t0
    print(f"connected {len(clients)}/{args.n} in {elapsed:.2f}s ({len(clients) / elapsed:,.0f}/s); "
          f"{len(errors)} failed" + (f", first: {errors[0]}" if errors else ""))

    gevent.sleep(args.settle)
    after = rss(worker)
    per_conn = (after - before) / max(1, len(clients)) / 1024
    print(f"server RSS before {before / 2**20:.1f} MiB, after {after / 2**20:.1f} MiB: "
          f"{per_conn:.1f} KiB per connection (target <= 100 KiB) -> "
          f"{'OK' if per_conn <= 100 else 'ABOVE TARGET'}")

    sample = clients if args.sample <= 0 or args.sample >= len(clients) else random.sample(clients, args.sample)
    pings = [gevent.spawn(c.ping) for c in sample]
    gevent.joinall(pings)
    ok = sum(1 for g in pings if g.value)
    alive_total = sum(1 for c in clients if c.alive)
    print(f"alive: {ok}/{len(sample)} sampled connections answered a ping; "
          f"{alive_total}/{len(clients)} never failed a keepalive")
    if args.hold:
        gevent.sleep(args.hold)
    stop.set()
    pinger.kill()
    for c in clients:
        try:
            c.ws.close()
        except Exception:
            pass
    healthy = not errors and ok == len(sample)
    return 0 if healthy and per_conn <= 100 else 1


if __name__ == "__main__":
    sys.exit(main())

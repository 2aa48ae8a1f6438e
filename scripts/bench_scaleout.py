"""scripts/bench send --scaleout NAME: the same cluster behind the same proxy, with all of
its instances and with one, in one run (issue 18).

The proxy's stats socket (var/cluster/NAME/haproxy.sock) takes instances in and out of
the hash ring between phases; every phase makes fresh teams, so they hash over exactly
the instances in the ring. Phases alternate (all, one, all, one, ...) for ``--scaleout-rounds``
rounds after one warm-up phase (all, one; one, all; ...), so warm-up and a noisy neighbour
on the shared machine hit both alike; medians are reported
with the ratio. Then the failover time: kill -9 the instance that owns a team, and time
from the kill to the first acknowledged send of that team (REST, retried with the same
client_msg_id), ``--failovers`` times, restarting the instance each time.
"""
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cluster_state(name: str) -> dict:
    with open(os.path.join(ROOT, "var", "cluster", name, "state.json")) as f:
        return json.load(f)


def proxy_command(name: str, command: str) -> str:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(os.path.join(ROOT, "var", "cluster", name, "haproxy.sock"))
        s.sendall(command.encode() + b"\n")
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out.decode()


def route_to(name: str, every: list[str], enabled: list[str]):
    """Only ``enabled`` instances in the proxy's ring; wait until it says so."""
    for server in every:
        verb = "enable" if server in enabled else "disable"
        proxy_command(name, f"{verb} server instances/{server}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = [r.split(",") for r in proxy_command(name, "show stat").splitlines() if r and r[0] != "#"]
        status = {r[1]: r[17] for r in rows if r[0] == "instances"}
        if all(status.get(s, "").startswith("UP") == (s in enabled) for s in every):
            return
        time.sleep(0.3)
    sys.exit(f"the proxy did not take {enabled} as its ring")


def teams_of_senders(bench, url: str, teams: int, per_team: int, chat_size: int):
    """``teams`` fresh teams, each with ``per_team`` chats of ``chat_size`` members:
    [(chat_id, [member sessions, sender first])]."""
    chats = []
    for _ in range(teams):
        _, users = bench.make_team(url, per_team * chat_size)
        for k in range(per_team):
            group = users[k * chat_size:(k + 1) * chat_size]
            chats.append((bench.make_chat(url, group[0], group[1:]), group))
    return chats


def cpu_seconds_by_group() -> dict[int, float]:
    """CPU seconds (user + system) so far of every live process, summed by process group:
    scripts/cluster starts each engine node, instance and the proxy in a group of its own."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pgid, utime, stime = int(fields[2]), int(fields[11]), int(fields[12])
        out[pgid] = out.get(pgid, 0.0) + (utime + stime) / tick
    return out


def cpu_profile(state: dict, before: dict, after: dict, seconds: float) -> dict:
    """Cores used during a phase by each part of the cluster and by everything else that
    was alive at both samples (a process that ended meanwhile, such as wsload, is missing)."""
    parts = {f"instance-{i['worker_id']}": i["pid"] for i in state["instances"]}
    parts.update({f"engine-{k + 1}": n["pid"] for k, n in enumerate(state["engine_nodes"])})
    parts["haproxy"] = state["proxy"]["pid"]
    parts["bench+wsload"] = os.getpgrp()
    used = {name: (after.get(pg, 0) - before.get(pg, 0)) / seconds for name, pg in parts.items()}
    total = sum(after.get(pg, 0) - before.get(pg, 0) for pg in set(after) | set(before)
                if after.get(pg, 0) >= before.get(pg, 0)) / seconds
    used["everything else on the machine"] = total - sum(used.values())
    return {k: round(v, 2) for k, v in used.items()}


def phase(bench, args) -> dict:
    ws_url = args.url.replace("http", "ws", 1) + "/ws"
    senders = teams_of_senders(bench, args.url, args.teams, max(1, args.senders // args.teams), 2)
    state = cluster_state(args.scaleout)
    before, t0 = cpu_seconds_by_group(), time.monotonic()
    t = bench.run_wsload({"mode": "throughput", "ws_url": ws_url, "seconds": args.seconds, "warmup": 1.0,
                          "window": args.window, "replies": 0, "reactions": 0, "mentions": 0,
                          "senders": [{"chat_id": cid, "token": g[0]["token"], "mention": g[1]["user"]["username"]}
                                      for cid, g in senders]})
    cores = cpu_profile(state, before, cpu_seconds_by_group(), time.monotonic() - t0)
    chats = teams_of_senders(bench, args.url, args.teams, 1, 5)
    lat = bench.run_wsload({"mode": "latency", "ws_url": ws_url, "seconds": args.seconds, "warmup": 1.0,
                            "rate": args.rate, "chats": [{"chat_id": cid, "tokens": [m["token"] for m in g]}
                                                         for cid, g in chats]})
    return {"acked_per_s": t["acked_per_s"], "errors": t["errors"] + lat["errors"],
            "lost_connections": t.get("lost_connections", 0),
            "p50_ms": lat["p50_ms"], "p99_ms": lat["p99_ms"], "cores_during_throughput": cores}


def owner_of(state: dict, team_id: str) -> dict | None:
    for inst in state["instances"]:
        try:
            r = requests.get(f"http://127.0.0.1:{inst['port']}/internal/teams",
                             headers={"X-Chatsvc-Secret": state["secret"]}, timeout=2)
        except requests.RequestException:
            continue
        if r.status_code == 200 and team_id in r.json()["teams"]:
            return inst
    return None


def failover_once(bench, args, state) -> float:
    """Seconds from kill -9 of a team's instance to that team's first acknowledged send."""
    chat_id, group = teams_of_senders(bench, args.url, 1, 1, 2)[0]
    headers = {"Authorization": f"Bearer {group[0]['token']}"}

    def send(cid=None):
        body = {"body": "failover probe", "client_msg_id": cid or uuid.uuid4().hex}
        try:
            return requests.post(f"{args.url}/api/chats/{chat_id}/messages", json=body, headers=headers,
                                 timeout=15).status_code in (200, 201)
        except requests.RequestException:
            return False
    assert send(), "the probe team does not answer before the kill"
    victim = owner_of(state, group[0]["user"]["team_id"])
    os.killpg(victim["pid"], signal.SIGKILL)
    killed = time.monotonic()
    probe = uuid.uuid4().hex   # one message, retried with the same client_msg_id
    while not send(probe):
        if time.monotonic() - killed > 60:
            sys.exit("no acknowledged send within 60 s of the kill")
        time.sleep(0.05)
    took = time.monotonic() - killed
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "cluster"), "up", "--name", args.scaleout],
                   check=True, capture_output=True)
    return took


def compare(args, bench) -> dict:
    state = cluster_state(args.scaleout)
    every = [f"instance-{i['worker_id']}" for i in state["instances"]]
    runs = {"all": [], "one": []}
    order = [("all", every), ("one", every[:1])]
    try:
        route_to(args.scaleout, every, every)
        phase(bench, args)   # warm-up, not counted: the engine's first writes into new indices are slow
        for r in range(args.scaleout_rounds):
            for label, enabled in (order if r % 2 == 0 else order[::-1]):   # all/one, one/all, ...
                route_to(args.scaleout, every, enabled)
                result = phase(bench, args)
                runs[label].append(result)
                print(f"round {r + 1}, {len(enabled)} instance(s): {result['acked_per_s']:,.0f} acked/s, "
                      f"delivery p99 {result['p99_ms']:.1f} ms at {args.rate:.0f} msg/s, "
                      f"{result['errors']} errors, {result['lost_connections']} connections closed; cores used: {result['cores_during_throughput']}", flush=True)
    finally:
        route_to(args.scaleout, every, every)
    med = {label: {k: statistics.median(x[k] for x in rs) for k in ("acked_per_s", "p50_ms", "p99_ms")}
           for label, rs in runs.items()}
    out = {"instances": len(every), "median": med, "runs": runs,
           "ratio_acked": med["all"]["acked_per_s"] / med["one"]["acked_per_s"]}
    print(f"median of {args.scaleout_rounds}: {len(every)} instances {med['all']['acked_per_s']:,.0f} acked/s "
          f"(p99 {med['all']['p99_ms']:.1f} ms), 1 instance {med['one']['acked_per_s']:,.0f} acked/s "
          f"(p99 {med['one']['p99_ms']:.1f} ms): {out['ratio_acked']:.2f}x", flush=True)
    if args.failovers:
        times = [failover_once(bench, args, cluster_state(args.scaleout)) for _ in range(args.failovers)]
        out["failover_s"] = times
        print(f"failover (kill -9 to the team's first acked send): median {statistics.median(times):.1f} s "
              f"of {times}", flush=True)
    return out

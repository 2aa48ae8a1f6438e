"""Export benchmark: ``scripts/bench export [--prefix bench] [--teams N] [--keep DIR]``.

Exports JSON Lines of every team of the search benchmark's corpus (scripts/corpus.py, loaded
into ``<prefix>-*`` by ``scripts/bench search``: 1,000,000 messages in ~100 teams), one team
after another, through chatsvc's export code (``chatsvc.export.run_export``, what
``scripts/export`` runs, minus the process start-up), then the biggest team once more through
``scripts/export`` itself, start-up included. Reports messages/s overall and per team size.

With ``--formats jsonl,actiance,globalrelay`` (any of the export's formats) it measures
each format instead, in process, over the ``--teams`` biggest teams (default 3), and reports
messages/s per format (manifest, hashing and signing included).

Target (docs/benchmarks.md): >= 20,000 messages/s.
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from chatsvc.config import Config  # noqa: E402
from chatsvc.export import ExportOptions, run_export  # noqa: E402
from chatsvc.export.filters import Filters  # noqa: E402
from chatsvc.store import Engine  # noqa: E402
from chatsvc.store.scan import scan  # noqa: E402

TARGET = 20_000


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def corpus_size(url: str, prefix: str) -> int:
    r = requests.get(f"{url}/{prefix}-messages-*/_count",
                     params={"ignore_unavailable": "true", "allow_no_indices": "true"}, timeout=60)
    r.raise_for_status()
    return r.json()["count"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", default="bench", help="index prefix of the corpus (default bench)")
    parser.add_argument("--teams", type=int, default=0, help="export only the N biggest teams (0: all)")
    parser.add_argument("--keep", help="write the exports here and keep them (default: a temp dir, removed)")
    parser.add_argument("--wait", type=float, default=0,
                        help="seconds to wait for the corpus to be loaded (polls its message count)")
    parser.add_argument("--formats", help="comma-separated formats to measure one by one "
                        "(e.g. jsonl,actiance,globalrelay) over the --teams biggest teams")
    args = parser.parse_args(argv)
    if args.formats and not args.teams:
        args.teams = 3

    config = Config.from_env(os.environ)
    url = config.search_url
    engine = Engine(url, args.prefix, timeout=60)
    deadline = time.monotonic() + args.wait
    total = corpus_size(url, args.prefix)
    while total == 0 and time.monotonic() < deadline:
        time.sleep(10)
        total = corpus_size(url, args.prefix)
    if total == 0:
        print(f"no corpus in {args.prefix}-messages-* at {url}: load it with `scripts/bench search "
              f"--prefix {args.prefix}` first", file=sys.stderr)
        return 1
    requests.post(f"{url}/{args.prefix}-*/_refresh", timeout=120)
    sizes = {}
    body = {"size": 0, "aggs": {"t": {"terms": {"field": "team_id", "size": 10000}}}}
    for b in engine.call("search", index=engine.messages_pattern, body=body)["aggregations"]["t"]["buckets"]:
        sizes[b["key"]] = b["doc_count"]
    teams = {t["id"]: t["name"] for t in scan(engine, engine.index("teams"), {"match_all": {}}, ("id",))}
    order = sorted(sizes, key=lambda t: -sizes[t])
    if args.teams:
        order = order[:args.teams]
    work = args.keep or tempfile.mkdtemp(prefix="bench-export-")
    os.makedirs(work, exist_ok=True)
    print(f"exporting {sum(sizes[t] for t in order):,} messages of {len(order)} teams "
          f"({total:,} in the corpus, prefix {args.prefix}) as JSON Lines into {work}", flush=True)

    if args.formats:
        try:
            return format_rates(engine, order, sizes, teams, args.formats.split(","), work)
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)

    def engine_cpu_ms():
        stats = requests.get(f"{url}/_nodes/stats/process", timeout=30).json()["nodes"]
        return sum(n["process"]["cpu"]["total_in_millis"] for n in stats.values())

    done, out_bytes, rows = 0, 0, []
    load_before = os.getloadavg()[0]
    cpu0, engine0 = _cpu(), engine_cpu_ms()
    started = time.perf_counter()
    try:
        for i, team_id in enumerate(order):
            out = os.path.join(work, f"team-{team_id}")
            t0 = time.perf_counter()
            manifest = run_export(engine, ExportOptions(filters=Filters(team=team_id), out=out,
                                                        format="jsonl", progress=False))
            dt = time.perf_counter() - t0
            n = manifest["totals"]["messages"]
            if n != sizes[team_id]:
                print(f"  MISMATCH team {team_id}: exported {n}, corpus has {sizes[team_id]}",
                      file=sys.stderr)
                return 1
            done += n
            out_bytes += sum(f["bytes"] for f in manifest["files"])
            rows.append((team_id, n, dt))
            if i < 5 or (i + 1) % 20 == 0:
                print(f"  team {teams.get(team_id, team_id):<28} {n:>8,} messages {dt:7.2f} s "
                      f"{n / dt:>9,.0f}/s   [{i + 1}/{len(order)}]", flush=True)
            if not args.keep:
                shutil.rmtree(out)
        elapsed = time.perf_counter() - started
        py_cpu, engine_cpu = _cpu() - cpu0, (engine_cpu_ms() - engine0) / 1000
        load_after = os.getloadavg()[0]

        # The biggest team again, through the command an operator runs (start-up included).
        big = order[0]
        out = os.path.join(work, "cli-biggest")
        env = dict(os.environ, CHATSVC_INDEX_PREFIX=args.prefix, CHATSVC_SEARCH_URL=url)
        t0 = time.perf_counter()
        r = subprocess.run([os.path.join(ROOT, "scripts", "export"), "--team", teams.get(big, big),
                            "--out", out, "--no-progress"], env=env, capture_output=True, text=True)
        cli_dt = time.perf_counter() - t0
        if r.returncode != 0:
            print(r.stderr, file=sys.stderr)
            return 1
        cli_n = json.load(open(os.path.join(out, "manifest.json")))["totals"]["messages"]
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    big_rows = [r for r in rows if r[1] >= 20_000]
    print()
    print(f"export (JSON Lines, {len(order)} teams, one after another, in process)")
    print(f"  messages     {done:>12,}")
    print(f"  elapsed      {elapsed:>12.1f} s")
    print(f"  rate         {done / elapsed:>12,.0f} messages/s   (target >= {TARGET:,}/s: "
          f"{'met' if done / elapsed >= TARGET else 'NOT met'})")
    print(f"  output       {out_bytes / 1e6:>12,.1f} MB ({out_bytes / elapsed / 1e6:,.1f} MB/s)")
    print(f"  CPU          exporter {py_cpu:.1f} s ({done / py_cpu:,.0f} messages per CPU-second), "
          f"engine {engine_cpu:.1f} s (the engine's whole process: other users' work included)")
    print(f"  machine      {os.cpu_count()} CPUs, load average {load_before:.1f} before, "
          f"{load_after:.1f} after (other processes share the machine and the engine)")
    if big_rows:
        n, dt = sum(r[1] for r in big_rows), sum(r[2] for r in big_rows)
        print(f"  teams >= 20k {n:>12,} messages in {len(big_rows)} teams: {n / dt:,.0f} messages/s")
    print(f"  scripts/export, biggest team ({cli_n:,} messages), process start-up included: "
          f"{cli_dt:.1f} s, {cli_n / cli_dt:,.0f} messages/s")
    return 0


def format_rates(engine, order, sizes, teams, formats, work) -> int:
    """Each format over the same teams, one after another; messages/s per format."""
    os.environ.setdefault("CHATSVC_EXPORT_KEY", os.path.join(work, "bench-key.pem"))
    results = []
    for fmt in formats:
        done, out_bytes, cpu0 = 0, 0, _cpu()
        t_all = time.perf_counter()
        for team_id in order:
            out = os.path.join(work, f"{fmt}-{team_id}")
            t0 = time.perf_counter()
            manifest = run_export(engine, ExportOptions(filters=Filters(team=team_id), out=out,
                                                        format=fmt, progress=False))
            dt = time.perf_counter() - t0
            n = manifest["totals"]["messages"]
            if n != sizes[team_id]:
                print(f"  MISMATCH {fmt} team {team_id}: exported {n}, corpus has {sizes[team_id]}",
                      file=sys.stderr)
                return 1
            done += n
            out_bytes += sum(f["bytes"] for f in manifest["files"])
            print(f"  {fmt:<12} team {teams.get(team_id, team_id):<28} {n:>8,} messages {dt:7.2f} s "
                  f"{n / dt:>9,.0f}/s", flush=True)
            shutil.rmtree(out)
        elapsed = time.perf_counter() - t_all
        results.append((fmt, done, elapsed, out_bytes, _cpu() - cpu0))
    print()
    print(f"export per format ({len(order)} biggest teams, in process, one after another)")
    for fmt, done, elapsed, out_bytes, cpu in results:
        print(f"  {fmt:<12} {done:>10,} messages {elapsed:8.1f} s {done / elapsed:>9,.0f} messages/s  "
              f"output {out_bytes / 1e6:8.1f} MB  exporter CPU {cpu:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

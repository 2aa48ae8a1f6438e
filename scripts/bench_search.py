"""Search benchmark: ``scripts/bench search [--n 1000000] [--prefix bench] [--skip-load]``.

1. Loads the corpus of scripts/corpus.py (fixed seed) into ``<prefix>-*`` on the engine at
   CHATSVC_SEARCH_URL through ``_bulk`` requests of ~5,000 documents, and reports the load
   rate. (--skip-load reuses what is there and reprints the figures of the load that made it.)
2. Runs a mixed query set (words, phrases, exclusions, code tokens, from:, in:, with:, date
   ranges, has:like, filter-only, sort=recent, second pages) through chatsvc's own search
   code path, in process: ``chatsvc.chat.search.search(ctx, user, ...)`` with a ChatContext
   on that prefix, exactly what GET /api/search calls. Callers are corpus users picked at
   random, weighted to busy teams; queries are made from words of that team's messages.
3. Reports p50/p95/p99 (ms) at 1 and 8 concurrent searchers (gevent greenlets, as the
   server runs), and the index size on disk per million messages (_cat/indices).

Target (docs/benchmarks.md): p95 <= 50 ms over 1,000,000 messages.
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import gevent  # noqa: E402
import requests  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import corpus  # noqa: E402
from chatsvc.chat import search as chat_search  # noqa: E402
from chatsvc.chat.context import ChatContext  # noqa: E402
from chatsvc.chat.events import NullPublisher  # noqa: E402
from chatsvc.config import Config  # noqa: E402
from chatsvc.store import Engine  # noqa: E402

SEED = 20261130
STATS_DIR = os.path.join(ROOT, "var", "bench")


def _stats_path(prefix: str) -> str:
    return os.path.join(STATS_DIR, f"search-load-{prefix}.json")


def do_load(url: str, prefix: str, n: int, seed: int) -> dict:
    existing = requests.get(f"{url}/_cat/indices/{prefix}-messages-*", params={"format": "json"},
                            timeout=30).json()
    if existing:
        sys.exit(f"{prefix}-messages-* already exists on {url}: use --skip-load, or delete "
                 f"{prefix}-* first (curl -XDELETE '{url}/{prefix}-*')")
    print(f"loading {n:,} messages (seed {seed}) into {prefix}-* at {url} ...", flush=True)

    # In a fresh interpreter: this one is gevent-patched (see corpus._main).
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "scripts", "corpus.py"), "load",
                             url, prefix, str(n), str(seed)], stdout=subprocess.PIPE, text=True)
    last = ""
    for line in proc.stdout:
        if line.startswith("{"):
            last = line
        else:
            print(line, end="", flush=True)
    if proc.wait() != 0 or not last:
        sys.exit(f"corpus load failed (exit {proc.returncode})")
    st = json.loads(last)
    merge_seconds = merge_closed_months(url, prefix)
    stats = {"merge_seconds": round(merge_seconds, 1), "prefix": prefix, "messages": n, "seed": seed,
             "seconds": round(st["seconds"], 1), "rate": round(n / st["seconds"]),
             "bulk_requests": st["requests"],
             "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    os.makedirs(STATS_DIR, exist_ok=True)
    with open(_stats_path(prefix), "w") as f:
        json.dump(stats, f)
    return stats


def merge_closed_months(url: str, prefix: str) -> float:
    """Force-merge the monthly indices of past months to one segment each: they take no
    more writes than the odd like or deletion, and this is the routine maintenance of
    time-partitioned indices (as rollover + forcemerge policies do). Returns seconds."""
    current = time.strftime("%Y.%m", time.gmtime())
    rows = requests.get(f"{url}/_cat/indices/{prefix}-messages-*", params={"format": "json", "h": "index"},
                        timeout=30).json()
    closed = sorted(r["index"] for r in rows if not r["index"].endswith(current))
    started = time.monotonic()
    if closed:
        print(f"force-merging {len(closed)} closed monthly indices ...", flush=True)
        requests.post(f"{url}/{','.join(closed)}/_forcemerge", params={"max_num_segments": 1},
                      timeout=3600).raise_for_status()
    return time.monotonic() - started


def index_size(url: str, prefix: str) -> tuple[int, int]:
    rows = requests.get(f"{url}/_cat/indices/{prefix}-messages-*",
                        params={"format": "json", "bytes": "b", "h": "index,docs.count,pri.store.size"},
                        timeout=30).json()
    return (sum(int(r["docs.count"] or 0) for r in rows),
            sum(int(r["pri.store.size"] or 0) for r in rows))


# ------------------------------------------------------------------------- queries

def _words_of(text: str) -> list[str]:
    return [w.strip(".,!?:;()'\"").lower() for w in text.split()
            if len(w.strip(".,!?:;()'\"")) > 3 and w.isascii() and not w.startswith(("@", "http", "`"))]


@dataclass
class Sample:
    """A stored message that a query of the mix is made from, and who asks it."""
    rng: random.Random
    doc: dict
    state: object
    chat: dict
    user: dict
    words: list
    word: str


def _phrase(s: Sample) -> str:
    toks = [t for t in s.doc["body"].split() if t.isalpha()]
    j = s.rng.randrange(max(1, len(toks) - 1))
    return f'"{" ".join(toks[j:j + 2])}"' if len(toks) >= 2 else s.word


def _sender(s: Sample) -> str:
    return s.state.users[s.doc["sender_id"]]["username"]


def _other_member(s: Sample) -> str:
    others = [m for m in s.chat["member_ids"] if m != s.user["id"]] or [s.user["id"]]
    return s.state.users[s.rng.choice(others)]["username"]


# kind -> (query text, sort) made from a sample message
QUERY_KINDS = {
    "word": lambda s: (s.word, "relevance"),
    "two_words": lambda s: (" ".join(s.rng.sample(s.words, min(2, len(s.words)))), "relevance"),
    "phrase": lambda s: (_phrase(s), "relevance"),
    "stem": lambda s: (s.rng.choice(["deploy", "release", "merge", "migrate", "crash", "test",
                                     "index", "review"]), "relevance"),
    "exclude": lambda s: (f"{s.rng.choice(['deploy', 'build', 'error', 'meeting'])} "
                          f"-{s.rng.choice(['staging', 'prod', 'the'])}", "relevance"),
    "code": lambda s: (s.rng.choice(["HTTP/2", "v1.2.3", "user_session", "https://github.com",
                                     "OPS-1234", "#42", "gRPC", "10:30", "ECONNREFUSED",
                                     "src/cache_queue.py"]), "relevance"),
    "from": lambda s: (f"from:{_sender(s)}", "relevance"),
    "from_word": lambda s: (f"from:{_sender(s)} {s.word}", "relevance"),
    "in": lambda s: (f"in:{s.chat['id']}", "relevance"),
    "in_word": lambda s: (f"in:{s.chat['id']} {s.word}", "relevance"),
    "with": lambda s: (f"with:{_other_member(s)} {s.word}", "relevance"),
    "date_range": lambda s: (f"{s.word} after:2026-03-01 before:2026-07-01", "relevance"),
    "on_day": lambda s: (f"on:{s.doc['created_at'][:10]}", "relevance"),
    "has_like": lambda s: (f"has:like {s.word}", "relevance"),
    "is_mine": lambda s: (f"is:mine {s.word}", "relevance"),
    "filters_only": lambda s: ("after:2026-06-01", "relevance"),
    "recent": lambda s: (s.word, "recent"),
    "recent_word": lambda s: (f"{s.word} {s.rng.choice(['deploy', 'the', 'build'])}", "recent"),
    # the second page of a common word
    "page2": lambda s: (s.rng.choice(["the", "deploy", "build", "ok"]), "relevance"),
    # the shapes issue 15 added: a prefix, CJK words, URL hosts and parts, negated filters
    "prefix": lambda s: (s.word[:max(2, len(s.word) - 2)] + "*", "relevance"),
    "cjk": lambda s: (s.rng.choice(["部署", "发布", "北京", "会议", "서울", "デプロイ"]), "relevance"),
    "url": lambda s: (s.rng.choice(["github.com", "github", "src/cache_queue.py", "cache_queue"]), "relevance"),
    "neg_from": lambda s: (f"{s.word} -from:{_sender(s)}", "relevance"),
    "neg_in": lambda s: (f"-in:{s.chat['id']} {s.word}", "relevance"),
}


def make_queries(ctx: ChatContext, url: str, prefix: str, seed: int, count: int = 400):
    """[(label, user doc, q, sort, cursor-wanted)]: a mixed set over random callers."""
    rng = random.Random(seed)
    engine = ctx.engine
    # sample real messages (and so real teams, chats, senders and words)
    sample = engine.call("search", index=engine.messages_pattern, body={
        "size": 600, "query": {"function_score": {"query": {"bool": {
            "must_not": [{"term": {"deleted": True}}]}},
            "random_score": {"seed": seed, "field": "_seq_no"}}},
        "_source": ["id", "chat_id", "team_id", "sender_id", "body", "created_at"]})["hits"]["hits"]
    docs = [h["_source"] for h in sample]
    queries = []
    kinds = ["word", "word", "two_words", "two_words", "phrase", "stem", "exclude", "code",
             "from", "from_word", "in", "in_word", "with", "date_range", "on_day",
             "has_like", "is_mine", "filters_only", "recent", "recent_word", "page2",
             "prefix", "cjk", "url", "neg_from", "neg_in"]
    for i in range(count):
        doc = docs[i % len(docs)]
        state = ctx.teams.get(doc["team_id"])
        chat = state.chats[doc["chat_id"]]
        if not chat["member_ids"]:
            continue
        user = state.users[rng.choice(chat["member_ids"])]
        words = _words_of(doc["body"]) or ["deploy"]
        sample = Sample(rng, doc, state, chat, user, words, rng.choice(words))
        kind = kinds[i % len(kinds)]
        q, sort = QUERY_KINDS[kind](sample)
        queries.append((kind, user, q, sort, kind == "page2"))
    return queries


ENGINE_TOOK: list[int] = []   # the engine's own "took" of every measured search (ms)


def _record_took(engine: Engine):
    """Wrap engine.call to note each _search's "took": engine time vs. everything else."""
    original = engine.call

    def call(method, *args, **kwargs):
        result = original(method, *args, **kwargs)
        if method == "search" and isinstance(result, dict) and "took" in result:
            ENGINE_TOOK.append(result["took"])
        return result

    engine.call = call


def run_one(ctx, item) -> float:
    kind, user, q, sort, page2 = item
    cursor = None
    if page2:
        first = chat_search.search(ctx, user, q, sort=sort, limit=20)
        cursor = first["next_cursor"]
        if cursor is None:
            return -1.0
    t0 = time.perf_counter()
    chat_search.search(ctx, user, q, sort=sort, limit=20, cursor=cursor)
    return (time.perf_counter() - t0) * 1000


def run_level(ctx, queries, concurrency: int, rounds: int) -> dict:
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = {}
    ENGINE_TOOK.clear()
    work = [q for _ in range(rounds) for q in queries]
    index = {"i": 0}

    def worker():
        while index["i"] < len(work):
            item = work[index["i"]]
            index["i"] += 1
            ms = run_one(ctx, item)
            if ms >= 0:
                latencies.append(ms)
                by_kind.setdefault(item[0], []).append(ms)

    t0 = time.perf_counter()
    gevent.joinall([gevent.spawn(worker) for _ in range(concurrency)], raise_error=True)
    wall = time.perf_counter() - t0
    return {"n": len(latencies), "qps": len(latencies) / wall, **_pcts(latencies),
            "engine": _pcts([float(t) for t in ENGINE_TOOK] or [0.0]),
            "by_kind": {k: _pcts(v) for k, v in sorted(by_kind.items())}}


def _pcts(values: list[float]) -> dict:
    values = sorted(values)

    def pct(p):
        return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]

    return {"p50": pct(50), "p95": pct(95), "p99": pct(99), "mean": statistics.fmean(values)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="messages to load (default 1,000,000)")
    ap.add_argument("--prefix", default="bench", help="index prefix of the corpus (default bench)")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--skip-load", action="store_true", help="search what is already loaded")
    ap.add_argument("--load-only", action="store_true", help="load, then stop")
    ap.add_argument("--queries", type=int, default=420, help="distinct queries in the set")
    ap.add_argument("--rounds", type=int, default=2, help="passes over the set per level")
    args = ap.parse_args()
    url = os.environ.get("CHATSVC_SEARCH_URL", "http://127.0.0.1:9200").rstrip("/")

    if args.skip_load:
        try:
            with open(_stats_path(args.prefix)) as f:
                load_stats = json.load(f)
            load_stats["note"] = "from the earlier load"
        except FileNotFoundError:
            load_stats = None
    else:
        load_stats = do_load(url, args.prefix, args.n, args.seed)
    if load_stats:
        print(f"load: {load_stats['messages']:,} messages in {load_stats['seconds']} s = "
              f"{load_stats['rate']:,} messages/s ({load_stats['bulk_requests']} _bulk requests of "
              f"~5,000 docs, 2 in flight){' [' + load_stats['note'] + ']' if 'note' in load_stats else ''}",
              flush=True)
        if "merge_seconds" in load_stats:
            print(f"      then force-merged the closed months in {load_stats['merge_seconds']} s", flush=True)
    if args.load_only:
        return
    requests.post(f"{url}/{args.prefix}-messages-*/_refresh", timeout=600)
    docs, size = index_size(url, args.prefix)
    print(f"index: {docs:,} message docs, {size / 2**20:,.0f} MiB on disk (primaries) = "
          f"{size / 2**20 / max(docs, 1) * 1e6:,.0f} MiB per million messages", flush=True)

    config = Config.from_env({**os.environ, "CHATSVC_SEARCH_URL": url,
                              "CHATSVC_INDEX_PREFIX": args.prefix})
    engine = Engine(url, args.prefix, pool_size=32, timeout=30)
    ctx = ChatContext(config, engine, NullPublisher())
    queries = make_queries(ctx, url, args.prefix, args.seed, args.queries)
    _record_took(engine)
    print(f"query set: {len(queries)} queries ({len({q[0] for q in queries})} kinds), "
          f"{args.rounds} passes per level; warming up ...", flush=True)
    for item in queries:  # warm-up: team states loaded, engine caches warm
        run_one(ctx, item)
    results = {}
    for level in (1, 8):
        r = results[level] = run_level(ctx, queries, level, args.rounds)
        print(f"{level} searcher{'s' if level > 1 else ''}: {r['n']} searches, {r['qps']:.0f}/s  "
              f"p50 {r['p50']:.1f} ms  p95 {r['p95']:.1f} ms  p99 {r['p99']:.1f} ms  "
              f"(target p95 <= 50 ms: {'met' if r['p95'] <= 50 else 'NOT met'})", flush=True)
        e = r["engine"]
        print(f"    engine 'took' of the same searches: p50 {e['p50']:.0f} ms  p95 {e['p95']:.0f} ms  "
              f"p99 {e['p99']:.0f} ms", flush=True)
    print("per kind at 1 searcher (p50 / p95 ms):")
    for kind, p in results[1]["by_kind"].items():
        print(f"  {kind:13s} {p['p50']:7.1f} {p['p95']:7.1f}")


if __name__ == "__main__":
    main()

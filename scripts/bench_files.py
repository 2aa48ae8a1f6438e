"""Files benchmark: ``scripts/bench files [--rounds 3] [--seconds 8]``.

Starts a real server (gunicorn, gevent worker) on a fresh index prefix with a scratch blob
folder, then measures, on this machine:
- upload MB/s: 25 MiB files of random bytes POSTed to /api/files (multipart, streamed to
  disk, SHA-256 while streaming, stored in the local blob store), median of the rounds;
- thumbnails/s: 2000x1500 JPEG photos uploaded one after another (each inspected and
  thumbnailed by Pillow in the thread pool), and Pillow's thumbnail step alone in process;
- the p99 of concurrent sends with and without a 25 MiB upload in progress: one client
  sends 50 messages/s over REST for ``--seconds``; rounds alternate without/with uploads
  running back to back, and the medians of the rounds are compared in the same run.

Target (issue 14): a 25 MiB upload raises the sends' p99 by at most 10 ms.
"""
import argparse
import io
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import requests  # noqa: E402
from PIL import Image  # noqa: E402

from chatsvc.media import images  # noqa: E402
from chatsvc.store import Engine  # noqa: E402
from chatsvc.store.indices import drop_deployment  # noqa: E402
from tests.conftest import ServerProcess  # noqa: E402
from tests.helpers import Api, create_chat, make_team  # noqa: E402

MIB = 1 << 20
BIG = 25 * MIB
TARGET_MS = 10.0


def photo(width=2000, height=1500) -> bytes:
    noise = Image.effect_noise((width, height), 60).convert("RGB")
    out = io.BytesIO()
    noise.save(out, "JPEG", quality=85)
    return out.getvalue()


def upload(person, data: bytes, name: str, kind: str) -> float:
    started = time.perf_counter()
    r = person["api"].post("/api/files", files={"file": (name, data, kind)})
    assert r.status_code == 201, r.text
    return time.perf_counter() - started


def upload_rate(person, rounds: int) -> list[float]:
    rates = []
    for _ in range(rounds):
        rates.append(BIG / MIB / upload(person, os.urandom(BIG), "big.bin", "application/octet-stream"))
    return rates


def thumbnail_rates(person, count: int) -> tuple[float, float]:
    data = photo()
    started = time.perf_counter()
    for i in range(count):
        upload(person, data, f"p{i}.jpg", "image/jpeg")
    served = count / (time.perf_counter() - started)
    with tempfile.TemporaryDirectory() as tmp:
        src, out = os.path.join(tmp, "p.jpg"), os.path.join(tmp, "t.jpg")
        with open(src, "wb") as f:
            f.write(data)
        started = time.perf_counter()
        for _ in range(count):
            images.thumbnail(src, out, 50_000_000)
        alone = count / (time.perf_counter() - started)
    return served, alone


def send_latencies(person, chat_id: str, seconds: float, rate: float = 50.0) -> list[float]:
    api, out, step = Api(person["api"].base, person["token"]), [], 1.0 / rate
    deadline = time.perf_counter() + seconds
    next_at = time.perf_counter()
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        r = api.post(f"/api/chats/{chat_id}/messages", json={"body": "bench", "client_msg_id": uuid.uuid4().hex})
        assert r.status_code == 201, r.text
        out.append((time.perf_counter() - started) * 1000)
        next_at += step
        time.sleep(max(0.0, next_at - time.perf_counter()))
    return out


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def with_uploads(person, fn):
    """Run fn() while 25 MiB uploads run back to back in another thread."""
    stop, data = threading.Event(), os.urandom(BIG)
    uploader_api = Api(person["api"].base, person["token"])

    def loop():
        while not stop.is_set():
            uploader_api.post("/api/files", files={"file": ("big.bin", data, "application/octet-stream")})

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    time.sleep(0.3)   # the first upload is in flight
    try:
        return fn()
    finally:
        stop.set()
        thread.join()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--thumbnails", type=int, default=20)
    parser.add_argument("--search-url", default=os.environ.get("CHATSVC_SEARCH_URL", "http://127.0.0.1:9200"))
    args = parser.parse_args()
    prefix = f"bench-files-{uuid.uuid4().hex[:8]}"
    scratch = tempfile.mkdtemp(prefix="chatsvc-bench-files-")
    srv = ServerProcess(args.search_url, prefix, blob_dir=os.path.join(scratch, "blobs"),
                        upload_dir=os.path.join(scratch, "uploads"), send_rate=1000, send_burst=100000).start()
    try:
        _, people = make_team(Api(srv.url), "ann", "bob")
        chat_id = create_chat(people["ann"], people["bob"])["id"]
        rates = upload_rate(people["ann"], args.rounds)
        print(f"upload 25 MiB: median {statistics.median(rates):.1f} MB/s (rounds: "
              + ", ".join(f"{r:.1f}" for r in rates) + ")")
        served, alone = thumbnail_rates(people["ann"], args.thumbnails)
        print(f"thumbnails of 2000x1500 JPEGs: {served:.1f}/s uploaded through the server, "
              f"{alone:.1f}/s Pillow alone in process")
        send_latencies(people["bob"], chat_id, 2)   # warm up
        quiet, busy = [], []
        for _ in range(args.rounds):
            quiet.append(p99(send_latencies(people["bob"], chat_id, args.seconds)))
            busy.append(p99(with_uploads(people["ann"], lambda: send_latencies(people["bob"], chat_id, args.seconds))))
        rise = statistics.median(busy) - statistics.median(quiet)
        print(f"send p99 without uploads: median {statistics.median(quiet):.1f} ms (rounds: "
              + ", ".join(f"{v:.1f}" for v in quiet) + ")")
        print(f"send p99 during 25 MiB uploads: median {statistics.median(busy):.1f} ms (rounds: "
              + ", ".join(f"{v:.1f}" for v in busy) + ")")
        print(f"p99 rise: {rise:+.1f} ms (target <= {TARGET_MS:.0f} ms): {'met' if rise <= TARGET_MS else 'NOT met'}")
    finally:
        srv.stop()
        drop_deployment(Engine(args.search_url, prefix))
        import shutil  # noqa: PLC0415
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

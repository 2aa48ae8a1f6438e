"""Files benchmark: ``scripts/bench files [--rounds 3] [--seconds 8]``.

Starts a real server (gunicorn, gevent worker) on a fresh index prefix with a scratch blob
folder, then measures, on this machine:
- upload MB/s: 25 MiB files of random bytes POSTed to /api/files (multipart, streamed to
  disk, SHA-256 while streaming, stored in the local blob store), median of the rounds;
- thumbnails/s: 2000x1500 JPEG photos uploaded one after another (each inspected and
  thumbnailed by Pillow in the thread pool), and Pillow's thumbnail step alone in process;
- the p99 of concurrent sends with and without a 25 MiB upload in progress: one client
  sends 50 messages/s over REST for ``--seconds``; rounds alternate without/with uploads
  running back to back from another process, each sent at ``--upload-rate`` MiB/s (a
  client's bandwidth, default 20; 0 for as fast as loopback goes), and the medians of the
  rounds are compared in the same run.

Target (issue 14): a 25 MiB upload raises the sends' p99 by at most 10 ms.
"""
import argparse
import io
import os
import statistics
import sys
import tempfile
import multiprocessing
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import requests  # noqa: E402, F401 - the test helpers' client
from urllib3 import encode_multipart_formdata  # noqa: E402
from PIL import Image  # noqa: E402

from chatsvc.media import images  # noqa: E402
from chatsvc.store import Engine  # noqa: E402
from chatsvc.store.indices import drop_deployment  # noqa: E402
from tests.conftest import ServerProcess  # noqa: E402
from tests.helpers import Api, create_chat, make_team  # noqa: E402

MIB = 1 << 20
BIG = 25 * MIB
TARGET_MS = 10.0
UPLOADS_DONE: list[int] = []   # 25 MiB uploads completed during each busy round


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


class PacedBody:
    """A request body read at most ``rate`` bytes/s (0: as fast as it is read), as a
    client on a real network sends it; its length is known, so it goes with a
    Content-Length, not chunked. It is handed out at least ``STEP`` bytes a read (http.client
    asks for 8 KiB): a real client runs on another machine, and this one shares the server's
    two cores, so its own work must stay small (8 KiB steps, each with its sleep, cost it
    ~100 ms of CPU per 25 MiB, as much as the server spends on the upload; 256 KiB steps ~35)."""
    STEP = 256 << 10

    def __init__(self, data: bytes, rate: float):
        self.data, self.rate, self.pos, self.started = data, rate, 0, None

    def __len__(self):
        return len(self.data)

    def read(self, size=-1):
        if self.started is None:
            self.started = time.perf_counter()
        size = len(self.data) - self.pos if size is None or size < 0 else max(size, self.STEP)
        chunk = self.data[self.pos:self.pos + size]
        self.pos += len(chunk)
        if self.rate:
            ahead = self.pos / self.rate - (time.perf_counter() - self.started)
            if ahead > 0:
                time.sleep(ahead)
        return chunk


def _upload_loop(base: str, token: str, stop, done, rate: float):
    # The multipart body is encoded once: re-encoding 25 MiB per upload would load the
    # shared CPUs with client work and blur what the server does.
    body, content_type = encode_multipart_formdata({"file": ("big.bin", os.urandom(BIG), "application/octet-stream")})
    api = Api(base, token)
    while not stop.is_set():
        r = api.post("/api/files", data=PacedBody(body, rate), headers={"Content-Type": content_type})
        if r.status_code == 201:
            with done.get_lock():
                done.value += 1


def with_uploads(person, fn, rate: float):
    """Run fn() while 25 MiB uploads run back to back in another process (a thread here
    would share the measuring client's GIL and slow its sends, not the server's)."""
    stop, done = multiprocessing.Event(), multiprocessing.Value("i", 0)
    proc = multiprocessing.Process(target=_upload_loop, args=(person["api"].base, person["token"], stop, done, rate))
    proc.start()
    time.sleep(0.5)   # the first upload is in flight
    try:
        result = fn()
        UPLOADS_DONE.append(done.value)
        return result
    finally:
        stop.set()
        proc.join()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--thumbnails", type=int, default=20)
    parser.add_argument("--upload-rate", type=float, default=20.0,
                        help="MiB/s each concurrent upload is sent at (a client's bandwidth; 0: unlimited)")
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
        quiet, busy, all_quiet, all_busy, loads = [], [], [], [], [os.getloadavg()[0]]
        for _ in range(args.rounds):
            q = send_latencies(people["bob"], chat_id, args.seconds)
            b = with_uploads(people["ann"], lambda: send_latencies(people["bob"], chat_id, args.seconds),
                             args.upload_rate * MIB)
            quiet.append(p99(q))
            busy.append(p99(b))
            all_quiet += q
            all_busy += b
            loads.append(os.getloadavg()[0])
        rise = statistics.median(busy) - statistics.median(quiet)
        print(f"send p99 without uploads: median {statistics.median(quiet):.1f} ms (rounds: "
              + ", ".join(f"{v:.1f}" for v in quiet) + ")")
        pace = f"{args.upload_rate:g} MiB/s" if args.upload_rate else "unlimited"
        print(f"send p99 during 25 MiB uploads ({pace}, back to back): median {statistics.median(busy):.1f} ms (rounds: "
              + ", ".join(f"{v:.1f}" for v in busy) + ")")
        print(f"25 MiB uploads completed during each {args.seconds:g} s busy round: {UPLOADS_DONE}")
        # Every send of all rounds together: on a shared machine a round's p99 is a handful
        # of samples, so this is the steadier figure (the rounds alternate, so a neighbour's
        # load falls on both sides alike).
        print(f"send p99 over all rounds' sends: {p99(all_quiet):.1f} ms without uploads ({len(all_quiet)} sends), "
              f"{p99(all_busy):.1f} ms during them ({len(all_busy)}): {p99(all_busy) - p99(all_quiet):+.1f} ms; "
              f"p50 {statistics.median(all_quiet):.1f} -> {statistics.median(all_busy):.1f} ms")
        print("load average (1 min) before and after each round pair: " + ", ".join(f"{v:.1f}" for v in loads))
        print(f"p99 rise: {rise:+.1f} ms (target <= {TARGET_MS:.0f} ms): {'met' if rise <= TARGET_MS else 'NOT met'}")
    finally:
        srv.stop()
        drop_deployment(Engine(args.search_url, prefix))
        import shutil  # noqa: PLC0415
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

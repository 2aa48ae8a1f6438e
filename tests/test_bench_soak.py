"""`scripts/bench soak` as README shows it, shortened (--minutes, --connections, --rate):
it sets up through the API, holds the connections under load, and reports the server's RSS
at the start and end, the errors and p99 per minute."""
import os
import re
import subprocess

import requests

from tests.conftest import ROOT, ServerProcess


def test_bench_soak_reports_rss_errors_and_p99_per_minute(engine_url, index_prefix):
    srv = ServerProcess(engine_url, index_prefix).start()
    try:
        done = subprocess.run([os.path.join(ROOT, "scripts", "bench"), "soak", "--url", srv.url,
                               "--connections", "30", "--rate", "30", "--minutes", "0.25"],
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        out = done.stdout
        assert re.search(r"setup: 30 users in 3 chats of 10, 100 earlier messages each", out), out
        rss = re.search(r"RSS: ([\d.]+) MiB with every connection open, ([\d.]+) MiB at the end", out)
        assert rss and float(rss.group(1)) > 10 and float(rss.group(2)) > 10, out
        assert "errors: 0 error frames, 0 connections closed by the server" in out, out
        assert re.search(r"minute 1: p50 [\d.]+ ms, p99 [\d.]+ ms \(\d+ deliveries\)", out), out
        # The history was really sent: 100 messages in each of the 3 chats.
        requests.post(f"{engine_url}/{index_prefix}-messages-*/_refresh", timeout=30)
        counted = requests.post(f"{engine_url}/{index_prefix}-messages-*/_count", timeout=30, json={
            "query": {"match_phrase": {"body": "earlier message"}}}).json()
        assert counted["count"] == 300, counted
    finally:
        srv.stop()

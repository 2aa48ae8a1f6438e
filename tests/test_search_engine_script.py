"""scripts/search-engine on ports above 9299 (issue 18): `start --nodes 3 --port 9400` used to
exit 1 without a word, because the runner refuses HTTP ports over 9299 by default."""
import os
import shutil
import subprocess
import sys

import requests

from tests.cluster_client import free_base
from tests.conftest import ROOT

SCRIPT = os.path.join(ROOT, "scripts", "search-engine")


def test_three_nodes_on_a_port_above_9299_start_and_stop():
    port = free_base(3, low=30000, high=39000)
    args = ["--nodes", "3", "--port", str(port)]
    started = subprocess.run([sys.executable, SCRIPT, "start", *args], capture_output=True, text=True, timeout=300)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"up at http://127.0.0.1:{port}" in started.stdout
        health = requests.get(f"http://127.0.0.1:{port}/_cluster/health", timeout=10).json()
        assert health["number_of_nodes"] == 3
        status = subprocess.run([sys.executable, SCRIPT, "status", *args], capture_output=True, text=True)
        assert status.returncode == 0 and "3 node(s)" in status.stdout
    finally:
        subprocess.run([sys.executable, SCRIPT, "stop", *args], capture_output=True, timeout=120)
        shutil.rmtree(os.path.join(ROOT, "var", "engine", f"3-node-{port}"), ignore_errors=True)
    down = subprocess.run([sys.executable, SCRIPT, "status", *args], capture_output=True, text=True)
    assert down.returncode == 3

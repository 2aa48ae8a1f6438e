"""A real S3-compatible server for the tests: SeaweedFS (``weed server -s3``) on free
loopback ports with its data under a temporary folder. ``scripts/setup`` builds the
binary into ~/.cache/chatsvc/bin (scripts/build-weed); without it the tests fail loudly."""
import os
import random
import shutil
import socket
import subprocess
import time

import requests

from tests.helpers import stop_process

WEED = os.environ.get("CHATSVC_WEED", os.path.expanduser("~/.cache/chatsvc/bin/weed"))
GRPC_OFFSET = 10000   # SeaweedFS serves gRPC on each HTTP port + 10000


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _ports(n: int) -> list[int]:
    """n HTTP ports whose gRPC twins (port + 10000) are free too."""
    found = []
    while len(found) < n:
        port = random.randint(20000, 45000)
        if port not in found and _free(port) and _free(port + GRPC_OFFSET):
            found.append(port)
    return found


class SeaweedS3:
    def __init__(self, data_dir: str):
        self.data_dir = data_dir
        self.proc = None
        self.master, self.volume, self.filer, self.s3 = _ports(4)
        self.endpoint = f"http://127.0.0.1:{self.s3}"
        self.log_path = os.path.join(data_dir, "weed.log")

    def start(self, timeout: float = 90) -> "SeaweedS3":
        if not os.access(WEED, os.X_OK):
            raise RuntimeError(f"SeaweedFS is not built at {WEED}: run scripts/setup (scripts/build-weed)")
        os.makedirs(self.data_dir, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [WEED, "server", f"-dir={self.data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                 f"-master.port={self.master}", f"-volume.port={self.volume}", "-filer",
                 f"-filer.port={self.filer}", "-s3", f"-s3.port={self.s3}", "-volume.max=64",
                 "-master.volumeSizeLimitMB=32"], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited early; see {self.log_path}")
            try:
                if requests.get(self.endpoint, timeout=1).status_code < 500:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"SeaweedFS S3 did not answer within {timeout}s; see {self.log_path}")

    def stop(self):
        stop_process(self.proc)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

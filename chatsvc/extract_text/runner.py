"""Run one extraction in a child process within its budgets; never raises.

The child (``python -m chatsvc.extract_text``) gets the time budget as a wall-clock
timeout (killed when over), the memory budget as its address-space limit, and the size
budget as the number of characters it may return. gevent's subprocess waits cooperatively,
so the server's other greenlets run meanwhile.
"""
import os
import sys
from dataclasses import dataclass

from gevent import subprocess

OK, BUDGET, FAILED = "ok", "budget", "failed"
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass(frozen=True)
class Extracted:
    text: str
    status: str   # ok | budget (time, memory or size of a bomb) | failed (unreadable)


def run(path: str, content_type: str, *, seconds: float, max_chars: int, memory_mb: int) -> Extracted:
    cmd = [sys.executable, "-m", "chatsvc.extract_text", path, content_type, str(max_chars), str(memory_mb)]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=seconds, cwd=_ROOT)
    except subprocess.TimeoutExpired:
        return Extracted("", BUDGET)
    if proc.returncode == 0:
        return Extracted(proc.stdout.decode("utf-8", errors="replace")[:max_chars], OK)
    # 3: over budget; killed by a signal (the memory cap can abort the interpreter): the same
    return Extracted("", BUDGET if proc.returncode == 3 or proc.returncode < 0 else FAILED)

"""A token bucket: ``rate`` frames per second on average, bursts of up to ``burst``."""
import time


class TokenBucket:
    __slots__ = ("rate", "burst", "_tokens", "_at")

    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._at = clock()

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def retry_after(self, now: float | None = None) -> float:
        """Seconds until the next ``take`` can succeed (0 when it can now)."""
        now = time.monotonic() if now is None else now
        tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        return max(0.0, (1 - tokens) / self.rate)

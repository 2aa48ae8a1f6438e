"""Abuse throttles: per-key token buckets, login back-off and a cap on concurrent work.

Every refusal is :class:`chatsvc.errors.RateLimited` carrying ``retry_after`` (seconds),
which REST turns into ``429`` with a ``Retry-After`` header and the gateway into an error
frame. State is per process and bounded (least recently used keys are forgotten): these
are abuse brakes, not quotas, and docs/hardening.md says why that holds with several
instances.
"""
import math
import time
from collections import OrderedDict

from gevent.lock import BoundedSemaphore

from chatsvc.errors import RateLimited
from chatsvc.ratelimit import TokenBucket


def refuse(message: str, retry_after: float) -> RateLimited:
    """A RateLimited saying to retry after ``retry_after`` seconds (rounded up, at least 1)."""
    error = RateLimited(message)
    error.retry_after = max(1, math.ceil(retry_after))
    return error


class _Lru(OrderedDict):
    """An OrderedDict that keeps at most ``size`` keys, forgetting the least recently used."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def touch(self, key, make):
        value = self.get(key)
        if value is None:
            value = self[key] = make()
            if len(self) > self.size:
                self.popitem(last=False)
        else:
            self.move_to_end(key)
        return value


class KeyedLimit:
    """``count`` events per ``seconds`` for each key (a bucket per key)."""

    def __init__(self, name: str, count: int, seconds: float, keys: int, on_refuse=None):
        self.name = name
        self.burst = max(1, int(count))
        self.rate = self.burst / seconds
        self._buckets = _Lru(keys)
        self._on_refuse = on_refuse

    def hit(self, key):
        """Count one event for ``key``; RateLimited when over the limit. ``None`` (no
        address: an in-process caller such as a command-line job) is never throttled."""
        if key is None:
            return
        bucket = self._buckets.touch(key, lambda: TokenBucket(self.rate, self.burst))
        if not bucket.take():
            if self._on_refuse:
                self._on_refuse(self.name)
            raise refuse(f"too many requests ({self.name}); slow down", bucket.retry_after())

    def check(self, key):
        """Refuse if ``key`` is out of events now, without counting one."""
        bucket = self._buckets.get(key)
        if bucket is not None and bucket.retry_after() > 0:
            if self._on_refuse:
                self._on_refuse(self.name)
            raise refuse(f"too many requests ({self.name}); slow down", bucket.retry_after())

    def __len__(self):
        return len(self._buckets)


class Backoff:
    """Growing waits after repeated failures of one key (an account from one address):
    ``free`` failures cost nothing, then each further one doubles the wait from ``base``
    up to ``longest``. A success forgets the key."""

    def __init__(self, free: int, base: float, longest: float, keys: int, clock=time.monotonic,
                 on_refuse=None):
        self.free, self.base, self.longest = free, base, longest
        self._state = _Lru(keys)   # key -> [failures, blocked until]
        self._clock = clock
        self._on_refuse = on_refuse

    def check(self, key):
        state = self._state.get(key)
        if state is not None:
            wait = state[1] - self._clock()
            if wait > 0:
                if self._on_refuse:
                    self._on_refuse("login_backoff")
                raise refuse("too many failed logins; wait before trying again", wait)

    def failed(self, key):
        state = self._state.touch(key, lambda: [0, 0.0])
        state[0] += 1
        extra = state[0] - self.free
        if extra > 0:
            state[1] = self._clock() + min(self.longest, self.base * 2 ** (extra - 1))

    def succeeded(self, key):
        self._state.pop(key, None)

    def __len__(self):
        return len(self._state)


class Concurrency:
    """At most ``limit`` calls at once in the process; the next is refused, not queued
    (a queue of slow searches would only make every searcher wait longer)."""

    def __init__(self, name: str, limit: int, on_refuse=None):
        self.name = name
        self._slots = BoundedSemaphore(limit)
        self._on_refuse = on_refuse

    def __enter__(self):
        if not self._slots.acquire(blocking=False):
            if self._on_refuse:
                self._on_refuse(self.name)
            raise refuse(f"too many {self.name} running; retry in a moment", 1)
        return self

    def __exit__(self, *exc):
        self._slots.release()


class _Off:
    """A throttle that never refuses (CHATSVC_THROTTLES=0)."""

    def hit(self, key):
        pass

    check = failed = succeeded = hit

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def __len__(self):
        return 0


class Throttles:
    """The process's throttles, each from its CHATSVC_LIMIT_* setting (counts multiplied by
    CHATSVC_THROTTLE_SCALE). ``on_refuse(name)`` is told of every refusal (metrics)."""

    KEYED = ("login_address", "signup_address", "team_address", "invite_address",
             "search_user", "action_user", "chat_user", "ws_user", "ws_address")

    def __init__(self, config, on_refuse=None):
        """``on_refuse(name)``: told of every refusal (see also :meth:`on_refuse`)."""
        scale = config.throttle_scale
        for name in self.KEYED:
            count, seconds = getattr(config, "limit_" + name)
            setattr(self, name, KeyedLimit(name, max(1, round(count * scale)), seconds,
                                           config.throttle_keys, on_refuse))
        self.login_failures = Backoff(max(1, round(config.login_free_failures * scale)),
                                      config.login_backoff, config.login_backoff_max,
                                      config.throttle_keys, on_refuse=on_refuse)
        self.searches = Concurrency("searches", max(1, round(config.search_concurrency * scale)),
                                    on_refuse)
        if not config.throttles:   # CHATSVC_THROTTLES=0: off, to measure what they cost
            for name in (*self.KEYED, "login_failures", "searches"):
                setattr(self, name, _Off())

    def on_refuse(self, callback):
        """Tell ``callback(name)`` of every refusal from now on (metrics)."""
        for name in (*self.KEYED, "login_failures", "searches"):
            getattr(self, name)._on_refuse = callback

    def sizes(self) -> dict[str, int]:
        """Tracked keys per throttle (a gauge of /metrics)."""
        sizes = {name: len(getattr(self, name)) for name in self.KEYED}
        sizes["login_failures"] = len(self.login_failures)
        return sizes

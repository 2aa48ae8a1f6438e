"""Time-ordered 64-bit ids (Discord-style snowflakes).

Layout, high to low: 41 bits of milliseconds since EPOCH_MS, 10 bits of worker number,
12 bits of sequence. Sorting ids sorts by time, an id tells its creation time (and so
its index month), and no coordination between processes is needed. Within one process
ids are strictly increasing, even if the wall clock steps back.
"""
import time
from datetime import datetime, timezone
from functools import lru_cache

EPOCH_MS = 1704067200000  # 2024-01-01T00:00:00Z
WORKER_BITS = 10
SEQUENCE_BITS = 12
MAX_WORKER = (1 << WORKER_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1


class SnowflakeGenerator:
    def __init__(self, worker_id: int, clock=time.time):
        if not 0 <= worker_id <= MAX_WORKER:
            raise ValueError(f"worker_id must be 0..{MAX_WORKER}")
        self._worker = worker_id
        self._clock = clock
        self._last_ms = -1
        self._sequence = 0

    def next_id(self) -> int:
        # No I/O here, so under gevent this runs without interruption: no lock needed.
        now = int(self._clock() * 1000) - EPOCH_MS
        if now <= self._last_ms:
            # Same millisecond, or the clock stepped back: keep counting from the last one.
            now = self._last_ms
            self._sequence = (self._sequence + 1) & MAX_SEQUENCE
            if self._sequence == 0:
                now += 1  # sequence exhausted: borrow the next millisecond
        else:
            self._sequence = 0
        self._last_ms = now
        return (now << (WORKER_BITS + SEQUENCE_BITS)) | (self._worker << SEQUENCE_BITS) | self._sequence


def id_millis(snowflake: int) -> int:
    """Unix milliseconds at which the id was made."""
    return (snowflake >> (WORKER_BITS + SEQUENCE_BITS)) + EPOCH_MS


def id_datetime(snowflake: int) -> datetime:
    return datetime.fromtimestamp(id_millis(snowflake) / 1000, tz=timezone.utc)


def parse_id(value) -> int | None:
    """A positive 64-bit id from its decimal string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        number = int(value)
    else:
        return None
    return number if 0 < number < (1 << 63) else None


def format_time(dt: datetime) -> str:
    """RFC 3339 UTC with milliseconds, as PROTOCOL.md fixes: 2026-11-30T09:15:02.123Z."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return format_time(datetime.now(timezone.utc))


@lru_cache(maxsize=4096)
def _second(unix_seconds: int) -> tuple[str, str]:
    """("YYYY-MM-DDTHH:MM:SS", "YYYY.MM") of one UTC second: ids made in the same second
    (thousands, on the send path) share the work."""
    t = time.gmtime(unix_seconds)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t), time.strftime("%Y.%m", t)


def millis_iso(ms: int) -> str:
    """Unix milliseconds as format_time writes them."""
    seconds, millis = divmod(ms, 1000)
    return f"{_second(seconds)[0]}.{millis:03d}Z"


def id_time(snowflake: int) -> str:
    """The id's creation time, RFC 3339 as format_time writes it."""
    return millis_iso(id_millis(snowflake))


def id_month(snowflake: int) -> str:
    """YYYY.MM of the id's creation (the messages index it belongs to)."""
    return _second(id_millis(snowflake) // 1000)[1]


def id_at(unix_ms: int, worker: int, sequence: int) -> int:
    """The id of a message made at ``unix_ms`` (an imported message keeps its original
    time), by ``worker`` with ``sequence``: the caller keeps (worker, sequence) unique within
    a millisecond, so ids stay unique, and sorting them sorts by time."""
    if not 0 <= worker <= MAX_WORKER:
        raise ValueError(f"worker must be 0..{MAX_WORKER}")
    if not 0 <= sequence <= MAX_SEQUENCE:
        raise ValueError(f"sequence must be 0..{MAX_SEQUENCE}")
    since = unix_ms - EPOCH_MS
    if not 0 <= since < (1 << (63 - WORKER_BITS - SEQUENCE_BITS)):
        raise ValueError("time is outside the ids' range (2024-01-01 onwards)")
    return (since << (WORKER_BITS + SEQUENCE_BITS)) | (worker << SEQUENCE_BITS) | sequence


def forget_older(entries, horizon_ms: float, id_of) -> None:
    """Pop the front of an OrderedDict, kept in id order, while the id ``id_of(key, value)``
    of its oldest entry was made before ``horizon_ms`` (unix milliseconds): a cache bounded
    by time (chat/send.py's idempotency keys, chat/state.py's message id -> chat)."""
    while entries:
        key, value = next(iter(entries.items()))
        if id_millis(id_of(key, value)) >= horizon_ms:
            return
        entries.popitem(last=False)

"""Every setting of the service, read from ``CHATSVC_*`` environment variables.

``Config.from_env()`` validates each value and raises :class:`ConfigError` naming the
variable and what it accepts, so a typo stops the process at start-up with a clear line
instead of surfacing later as a strange failure.
"""
import dataclasses
import re
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import urlparse


class ConfigError(ValueError):
    """A CHATSVC_* variable holds a value the service cannot use."""


DEFAULT_SECRET = "dev-only-secret-change-me"
_PREFIX_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def _url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value.rstrip("/")


def _urls(value: str) -> str:
    """One URL, or several separated by commas (the nodes of one cluster: issue 18)."""
    return ",".join(_url(part.strip()) for part in value.split(","))


def _flag(value: str) -> bool:
    if value.lower() not in ("0", "1", "true", "false", "yes", "no"):
        raise ValueError("must be 1 or 0")
    return value.lower() in ("1", "true", "yes")


def _active_shards(value: str) -> str:
    if value != "all" and not (value.isdigit() and 1 <= int(value) <= 6):
        raise ValueError("must be a number of copies (1-6) or all")
    return value


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError("must be 1-64 letters, digits, '_', '.' or '-'")
    return value


def _prefix(value: str) -> str:
    if not _PREFIX_RE.match(value):
        raise ValueError(
            "must be 1-40 characters of lowercase letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def _secret(value: str) -> str:
    if len(value) < 16:
        raise ValueError("must be at least 16 characters")
    return value


def _bounded(kind, low, high):
    def parse(value: str):
        try:
            number = kind(value)
        except ValueError:
            raise ValueError(f"must be a {kind.__name__}") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return parse


def _rate(value: str) -> tuple[int, float]:
    """``N/S``: at most N in any S seconds (a bucket of N refilled at N/S per second)."""
    count, sep, seconds = value.partition("/")
    try:
        count_n, seconds_n = int(count), float(seconds)
    except ValueError:
        raise ValueError("must be COUNT/SECONDS, e.g. 20/60") from None
    if not sep or count_n < 1 or not 0 < seconds_n <= 86400 * 7:
        raise ValueError("must be COUNT/SECONDS with COUNT >= 1 and 0 < SECONDS <= 604800")
    return count_n, seconds_n


def _choice(*allowed):
    def parse(value: str) -> str:
        if value not in allowed:
            raise ValueError("must be one of " + ", ".join(allowed))
        return value
    return parse


def _origins(value: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())
    for origin in origins:
        if origin != "*" and not urlparse(origin).netloc:
            raise ValueError("must be a comma-separated list of origins like https://chat.example.com")
    return origins


def _setting(default, parse, help_text):
    return field(default=default, metadata={"parse": parse, "help": help_text})


@dataclass(frozen=True)
class Config:
    search_url: str = _setting("http://127.0.0.1:9200", _urls, "the OpenSearch cluster (comma-separated nodes)")
    index_prefix: str = _setting("chatsvc", _prefix, "prefix of every index and template")
    secret: str = _setting(
        "dev-only-secret-change-me", _secret, "server secret, peppers token hashes"
    )
    index_shards: int = _setting(1, _bounded(int, 1, 64), "primary shards per index")
    index_replicas: int = _setting(0, _bounded(int, 0, 5), "replicas per index")
    engine_pool_size: int = _setting(64, _bounded(int, 1, 1024), "engine connections")
    engine_timeout: float = _setting(10.0, _bounded(float, 0.1, 300), "engine timeout, s")
    worker_id: int = _setting(0, _bounded(int, 0, 1023), "snowflake worker number")
    presence_grace: float = _setting(5.0, _bounded(float, 0, 3600), "offline grace, s")
    heartbeat_timeout: float = _setting(60.0, _bounded(float, 1, 3600), "silence limit, s")
    auth_timeout: float = _setting(10.0, _bounded(float, 0.5, 600), "first-frame deadline, s")
    max_frame_bytes: int = _setting(65536, _bounded(int, 1024, 16 << 20), "WS frame limit")
    max_request_bytes: int = _setting(1 << 20, _bounded(int, 1024, 64 << 20), "REST body limit")
    max_body_chars: int = _setting(10000, _bounded(int, 1, 100000), "message length limit")
    frame_rate: float = _setting(50.0, _bounded(float, 0.1, 1e6), "frames/s per connection")
    frame_burst: int = _setting(100, _bounded(int, 1, 1000000), "frame burst per connection")
    send_rate: float = _setting(50.0, _bounded(float, 0.1, 1e6), "messages/s per sender")
    send_burst: int = _setting(200, _bounded(int, 1, 1000000), "message burst per sender")
    sends_in_flight: int = _setting(16, _bounded(int, 1, 1000), "pipelined sends per connection")
    outbox_size: int = _setting(2000, _bounded(int, 10, 1000000), "queued events per conn")
    bulk_delay_ms: float = _setting(2.0, _bounded(float, 0, 1000), "group-commit window")
    bulk_max_items: int = _setting(1000, _bounded(int, 1, 100000), "docs per _bulk")
    tail_size: int = _setting(100, _bounded(int, 10, 100000), "messages cached per chat")
    retention_every: float = _setting(86400.0, _bounded(float, 0, 1e8), "retention run interval, s (0: off)")
    retention_poll: float = _setting(60.0, _bounded(float, 0.1, 86400), "retention schedule poll, s")
    export_scheduler_seconds: float = _setting(60.0, _bounded(float, 0, 86400),
                                               "scheduled-export check interval, s (0: off)")
    # -- files and avatars (issue 14) ----------------------------------------------------
    max_file_bytes: int = _setting(25 << 20, _bounded(int, 1, 4 << 30), "upload size limit, bytes")
    blob_dir: str = _setting("var/blobs", str, "local blob store folder (content-addressed)")
    upload_dir: str = _setting("var/uploads", str, "staging folder of uploads in progress")
    blob_s3_endpoint: str = _setting("", str, "S3-compatible endpoint URL (set: blobs go there)")
    blob_s3_bucket: str = _setting("chatsvc-files", str, "S3 bucket of the blobs")
    blob_s3_key: str = _setting("", str, "S3 access key id")
    blob_s3_secret: str = _setting("", str, "S3 secret access key")
    blob_s3_region: str = _setting("us-east-1", str, "S3 region")
    file_url_ttl: float = _setting(3600.0, _bounded(float, 1, 7 * 86400), "signed file URL lifetime, s")
    avatar_url_bucket: float = _setting(86400.0, _bounded(float, 1, 30 * 86400),
                                        "avatar links rotate per bucket of this many s; valid 1-2 buckets")
    image_max_pixels: int = _setting(50_000_000, _bounded(int, 1000, 1 << 31), "largest image accepted, pixels")
    extract_seconds: float = _setting(20.0, _bounded(float, 0.1, 600), "text extraction time budget per file, s")
    extract_chars: int = _setting(200_000, _bounded(int, 1000, 10_000_000), "extracted text kept per file, chars")
    extract_memory_mb: int = _setting(512, _bounded(int, 64, 16384), "text extraction memory budget, MiB")
    extract_recover_after: float = _setting(60.0, _bounded(float, 0.1, 86400),
                                            "a send's text still pending this long is extracted again, s")
    extract_recover_poll: float = _setting(30.0, _bounded(float, 0.1, 86400), "pending extraction sweep period, s")
    extract_delay: float = _setting(0.0, _bounded(float, 0, 600), "tests only: wait before extracting, s")
    # -- end files and avatars -----------------------------------------------------------

    # -- scale-out (issue 18): several instances behind a proxy, one owner per team ----------
    team_leases: bool = _setting(False, _flag, "serve a team only while holding its lease (1 behind a proxy)")
    instance_name: str = _setting("", lambda v: _name(v) if v else v, "this instance's name in team leases")
    lease_seconds: float = _setting(4.0, _bounded(float, 1, 600), "team lease lifetime, s (renewed at a third)")
    lease_wait: float = _setting(9.0, _bounded(float, 0, 600), "how long a request waits for its team's lease, s")
    directory_poll: float = _setting(2.0, _bounded(float, 0.2, 3600), "re-read of owned teams' new users, s")
    wait_for_active_shards: str = _setting("1", _active_shards, "shard copies active before a write starts (1..n or all)")

    # -- hardening (issue 16): throttles, tokens, memory, headers, observability ----------
    env: str = _setting("production", _choice("production", "development"),
                        "development allows the default secret")
    trusted_proxies: int = _setting(0, _bounded(int, 0, 5),
                                    "proxies in front whose X-Forwarded-For is believed")
    throttles: int = _setting(1, _bounded(int, 0, 1), "0: every abuse throttle off (benchmarks)")
    throttle_scale: float = _setting(1.0, _bounded(float, 0.001, 1e6),
                                     "multiplies every throttle's count (tests, benchmarks)")
    throttle_keys: int = _setting(100_000, _bounded(int, 100, 10_000_000),
                                  "throttle keys tracked per kind (least recently used go)")
    limit_login_address: tuple = _setting((30, 60.0), _rate, "login attempts per address")
    login_free_failures: int = _setting(5, _bounded(int, 1, 1000),
                                        "wrong passwords per account and address before back-off")
    login_backoff: float = _setting(1.0, _bounded(float, 0.01, 3600), "first back-off, s (doubles)")
    login_backoff_max: float = _setting(900.0, _bounded(float, 0.01, 86400), "longest back-off, s")
    limit_signup_address: tuple = _setting((20, 600.0), _rate, "signups per address")
    limit_team_address: tuple = _setting((5, 3600.0), _rate, "team creations per address")
    limit_invite_address: tuple = _setting((10, 600.0), _rate, "wrong invite codes per address")
    limit_search_user: tuple = _setting((30, 10.0), _rate, "searches per user")
    search_concurrency: int = _setting(16, _bounded(int, 1, 10000), "searches running at once")
    limit_action_user: tuple = _setting((120, 10.0), _rate,
                                        "likes, reactions, reads, deletes per user")
    limit_chat_user: tuple = _setting((30, 60.0), _rate, "chat creations per user")
    limit_ws_user: tuple = _setting((30, 60.0), _rate, "WebSocket connections per user")
    limit_ws_address: tuple = _setting((120, 60.0), _rate, "WebSocket connections per address")
    token_idle: float = _setting(30 * 86400.0, _bounded(float, 1, 1e9), "token idle timeout, s")
    token_lifetime: float = _setting(90 * 86400.0, _bounded(float, 1, 1e9), "token lifetime, s")
    token_recheck: float = _setting(5.0, _bounded(float, 0.1, 3600),
                                    "cached tokens are re-checked in the engine after this, s")
    token_cache_size: int = _setting(100_000, _bounded(int, 10, 10_000_000), "cached tokens")
    cache_mb: float = _setting(256.0, _bounded(float, 1, 1 << 20),
                               "memory budget of team states and chat tails, MiB")
    ws_input_frames: int = _setting(32, _bounded(int, 1, 100000),
                                    "frames read ahead per connection before reading stops")
    ws_input_stall: float = _setting(10.0, _bounded(float, 0.1, 3600),
                                     "s a full read-ahead may last before the connection is dropped")
    allowed_origins: tuple = _setting((), _origins, "origins allowed on /ws (default: the host)")
    log_json: int = _setting(0, _bounded(int, 0, 1), "1: one JSON object per log line")

    def check_secret(self):
        """Refuse the well-known default secret outside development: it peppers every token
        hash, and a value printed in the source peppers nothing."""
        if self.secret == DEFAULT_SECRET and self.env != "development":
            raise ConfigError("CHATSVC_SECRET is the built-in development value: set a secret "
                              "of your own (e.g. openssl rand -hex 32), or CHATSVC_ENV=development")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "Config":
        values = {}
        for f in dataclasses.fields(cls):
            name = "CHATSVC_" + f.name.upper()
            raw = environ.get(name)
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = f.metadata["parse"](raw.strip())
            except ValueError as exc:
                raise ConfigError(f"{name}={raw!r}: {exc}") from None
        return cls(**values)

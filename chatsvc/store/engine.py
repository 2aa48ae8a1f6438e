"""The OpenSearch client behind one small facade.

``Engine`` holds the client and the index names of one deployment (its prefix). Every
call into the engine goes through :meth:`Engine.call`, which turns "the engine is not
there" (refused, timed out, cluster blocked) into :class:`chatsvc.errors.Unavailable`, so
callers above store/ see one error whatever the transport did.
"""
import time
from urllib.parse import urlsplit, urlunsplit

from opensearchpy import JSONSerializer, OpenSearch
from opensearchpy import exceptions as os_errors

from chatsvc import jsonfast, metrics
from chatsvc.errors import Unavailable

# Errors that mean "nothing was done, try later" rather than "your request is wrong".
_UNAVAILABLE = (os_errors.ConnectionError, os_errors.ConnectionTimeout)
_UNAVAILABLE_STATUS = {429, 502, 503, 504}

NotFoundError = os_errors.NotFoundError
ConflictError = os_errors.ConflictError
TransportError = os_errors.TransportError


def read_preference(key: str) -> str:
    """The engine's ``preference`` for one reader (a user; a chat for a tail): every read
    with the same string goes to the same shard copies while they live, so with replicas
    (which refresh at different moments) a reader never sees results come and go."""
    return f"r{key}"


_timers: dict = {}


def _engine_timer(method: str):
    timer = _timers.get(method)
    if timer is None:
        timer = _timers[method] = metrics.ENGINE_SECONDS.labels(method)
    return timer


def redacted(url: str) -> str:
    """``url`` without a user name or password, for logs and errors."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, "***@" + host, parts.path, parts.query, parts.fragment))


class _FastJSON(JSONSerializer):
    """The client's JSON both ways through orjson: parsing a page of 10,000 hits or a bulk
    answer is most of the Python time of a big read or write. Anything orjson cannot
    write (a Decimal, say) goes the standard way."""

    def loads(self, s):
        return jsonfast.loads(s)

    def dumps(self, data):
        if isinstance(data, (str, bytes)):
            return data
        try:
            return jsonfast.dumps(data)
        except TypeError:
            return super().dumps(data)


class Engine:
    def __init__(self, url: str, prefix: str, pool_size: int = 64, timeout: float = 10.0,
                 shards: int = 1, replicas: int = 0, wait_for_active_shards: str = "1"):
        self.url = url
        self.wait_for_active_shards = wait_for_active_shards
        self.safe_url = redacted(url)   # what logs and messages may show
        self.prefix = prefix
        self.shards = shards
        self.replicas = replicas
        self.client = OpenSearch(
            # Several comma-separated nodes (scale-out): the client spreads requests over
            # them and sets a node that stops answering aside (max_retries stays 0: a
            # write is never re-sent blind; the caller gets Unavailable and retries).
            hosts=url.split(","),
            pool_maxsize=pool_size,
            timeout=timeout,
            max_retries=0,
            retry_on_timeout=False,
            serializer=_FastJSON(),
        )

    # -- index names ---------------------------------------------------------------
    def index(self, kind: str) -> str:
        return f"{self.prefix}-{kind}"

    def messages_index(self, month: str) -> str:
        """``month`` is YYYY.MM."""
        return f"{self.prefix}-messages-{month}"

    @property
    def messages_pattern(self) -> str:
        return f"{self.prefix}-messages-*"

    # -- calls ---------------------------------------------------------------------
    def call(self, method: str, *args, **kwargs):
        """Run ``client.<method>`` (dotted for namespaces, e.g. ``indices.create``)."""
        target = self.client
        for part in method.split("."):
            target = getattr(target, part)
        started = time.perf_counter()
        try:
            return target(*args, **kwargs)
        except _UNAVAILABLE as exc:
            metrics.ENGINE_ERRORS.labels(method).inc()
            raise Unavailable("the search engine is unavailable; nothing was accepted, retry later") from exc
        except TransportError as exc:
            if isinstance(exc.status_code, int) and exc.status_code in _UNAVAILABLE_STATUS:
                metrics.ENGINE_ERRORS.labels(method).inc()
                raise Unavailable("the search engine is overloaded or unavailable; retry later") from exc
            raise   # not found, conflict: answers, not failures of the engine
        finally:
            _engine_timer(method).observe(time.perf_counter() - started)

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:
            return False

"""Prometheus metrics of the process (prometheus_client), served at ``GET /metrics``.

Counters and histograms here are updated where things happen (a request, a frame, an
engine call, a fan-out); gauges of sizes (connections, queues, caches) are read only when
scraped, through callbacks ``init_app`` registers, so they cost nothing in between. Hot
paths take a pre-bound child (``frame_counter(kind, outcome)``) so a frame costs one dict
lookup and one counter increment.
"""
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily

REGISTRY = CollectorRegistry()

HTTP_REQUESTS = Counter("chatsvc_http_requests_total", "REST requests by endpoint and status",
                        ["endpoint", "method", "status"], registry=REGISTRY)
FRAMES = Counter("chatsvc_frames_total", "WebSocket client frames by type and outcome",
                 ["kind", "outcome"], registry=REGISTRY)
ACKS = Counter("chatsvc_acks_total", "messages acknowledged as stored (REST and WebSocket)",
               registry=REGISTRY)
FANOUT_EVENTS = Counter("chatsvc_fanout_events_total", "events published", registry=REGISTRY)
FANOUT_DELIVERIES = Counter("chatsvc_fanout_deliveries_total",
                            "event frames queued to connections", registry=REGISTRY)
ENGINE_SECONDS = Histogram("chatsvc_engine_seconds", "engine call latency by method",
                           ["method"], registry=REGISTRY,
                           buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10))
ENGINE_ERRORS = Counter("chatsvc_engine_errors_total", "engine calls that failed, by method",
                        ["method"], registry=REGISTRY)
THROTTLED = Counter("chatsvc_throttled_total", "requests and frames refused by a throttle",
                    ["throttle"], registry=REGISTRY)
# How changes of stored messages (reactions, likes, root summaries) reached the engine:
# "whole" (the document at its known version), "script" (no known version, or another
# write of it under way), "conflict" (a whole write refused, retried as a script).
MESSAGE_CHANGES = Counter("chatsvc_message_changes_total",
                          "changes of stored messages by how they were written", ["how"],
                          registry=REGISTRY)
CLOSES = Counter("chatsvc_ws_closes_total", "connections closed by the server, by reason",
                 ["reason"], registry=REGISTRY)

_frame_children: dict = {}


def frame_counter(kind: str, outcome: str):
    """The counter child of one (frame type, outcome), bound once."""
    key = (kind, outcome)
    child = _frame_children.get(key)
    if child is None:
        child = _frame_children[key] = FRAMES.labels(kind, outcome)
    return child


def throttled(name: str):
    THROTTLED.labels(name).inc()


class _Sizes:
    """Gauges read at scrape time from the callbacks the app registered (``sizes``):
    each returns a number, or a dict of label value -> number. One collector for the
    process, registered once, so building a second app (a test, a CLI job) re-points it."""

    def __init__(self):
        self.sources: dict[str, tuple[str, str | None, object]] = {}
        REGISTRY.register(self)

    def collect(self):
        for name, (help_text, label, read) in list(self.sources.items()):
            try:
                value = read()
            except Exception:   # a size that cannot be read now is left out of this scrape
                continue
            family = GaugeMetricFamily(name, help_text, labels=[label] if label else None)
            if label:
                for key, number in value.items():
                    family.add_metric([str(key)], number)
            else:
                family.add_metric([], value)
            yield family

    def describe(self):
        return []


SIZES = _Sizes()


def size(name: str, help_text: str, read, label: str | None = None):
    """Publish ``read()`` as the gauge ``name`` (with one ``label`` when it returns a dict)."""
    SIZES.sources[name] = (help_text, label, read)


def exposition() -> tuple[bytes, str]:
    """The registry in Prometheus text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def init_app(app):
    """``GET /metrics``: the Prometheus text format. Keep it off the public side of the
    proxy (it tells counts, not content)."""
    @app.get("/metrics")
    def metrics_view():
        body, content_type = exposition()
        return body, 200, {"Content-Type": content_type}

"""Security headers on every kind of response, the /ws Origin allow-list, the default
secret refused outside development, engine URLs logged without credentials, /metrics,
request ids (issue 16)."""
import subprocess
import sys

import pytest
import requests
import websocket

from chatsvc.config import DEFAULT_SECRET
from chatsvc.store.engine import redacted
from tests.conftest import ROOT, ServerProcess, free_port
from tests.helpers import WS, make_team, wait_until

SECURITY = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


def assert_secured(response):
    headers = {k.lower(): v for k, v in response.headers.items()}
    for name, value in SECURITY.items():
        assert headers.get(name) == value, (response.status_code, response.url, headers)
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "connect-src 'self'" in csp, csp
    assert headers["x-request-id"], headers


def test_headers_on_every_kind_of_response(server, api):
    team, people = make_team(api, "ann")
    ann = people["ann"]["api"]
    responses = [
        requests.get(server.url + "/"),                                   # the workspace page
        requests.get(server.url + "/static/app.js"),                      # a static file
        requests.get(server.url + "/static/no-such-file.js"),             # a missing static file
        requests.get(server.url + "/healthz"),
        ann.get("/api/me"),                                               # JSON
        requests.get(server.url + "/api/me"),                             # 401
        ann.get("/api/chats/123"),                                        # 404
        ann.post("/api/chats", json={"member_ids": "nope"}),              # 400
        requests.delete(server.url + "/healthz"),                         # 405
        requests.post(server.url + "/api/auth/login", data="x" * (2 << 20),
                      headers={"Content-Type": "application/json"}),      # 413
        requests.get(server.url + "/metrics"),
        requests.get(server.url + "/ws"),                                 # not an upgrade
        requests.get(server.url + "/ws", headers={"Origin": "https://evil.example"}),  # refused
    ]
    assert [r.status_code for r in responses] == [200, 200, 404, 200, 200, 401, 404, 400, 405,
                                                  413, 200, 400, 403], [r.status_code for r in responses]
    for r in responses:
        assert_secured(r)


def test_the_page_cannot_be_framed(server):
    r = requests.get(server.url + "/")
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


def ws_url(server) -> str:
    return server.url.replace("http://", "ws://") + "/ws"


def test_ws_refuses_a_foreign_origin(server):
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(ws_url(server), origin="https://evil.example", timeout=10)
    assert refused.value.status_code == 403


def test_ws_accepts_its_own_origin_and_clients_without_one(server, api):
    team, people = make_team(api, "ann")
    token = people["ann"]["token"]
    for origin in (server.url, None):
        options = {"origin": origin} if origin else {"suppress_origin": True}
        sock = websocket.create_connection(ws_url(server), timeout=10, **options)
        try:
            sock.send('{"type": "auth", "token": "%s"}' % token)
            assert '"ready"' in sock.recv()
        finally:
            sock.close()


def test_ws_allow_list_from_the_setting(engine_url, index_prefix):
    srv = ServerProcess(engine_url, index_prefix,
                        allowed_origins="https://chat.example.com, https://other.example").start()
    try:
        websocket.create_connection(ws_url(srv), origin="https://chat.example.com", timeout=10).close()
        for origin in (srv.url, "https://evil.example"):   # the host itself is no longer listed
            with pytest.raises(websocket.WebSocketBadStatusException) as refused:
                websocket.create_connection(ws_url(srv), origin=origin, timeout=10)
            assert refused.value.status_code == 403
    finally:
        srv.stop()


def test_server_refuses_the_default_secret_outside_development(engine_url, index_prefix):
    srv = ServerProcess(engine_url, index_prefix, secret=DEFAULT_SECRET, env="production")
    with pytest.raises(RuntimeError, match="exited early"):
        srv.start(timeout=30)
    with open(srv.log_path, errors="replace") as log:
        assert "refusing to start" in log.read()
    srv.stop()
    # the same secret is fine for development (scripts/run, the tests)
    dev = ServerProcess(engine_url, index_prefix, secret=DEFAULT_SECRET, env="development").start()
    dev.stop()


def test_a_bad_setting_value_is_refused(engine_url, index_prefix):
    srv = ServerProcess(engine_url, index_prefix, limit_login_address="lots")
    with pytest.raises(RuntimeError):
        srv.start(timeout=30)
    srv.stop()


def test_engine_url_is_logged_without_credentials(index_prefix):
    port = free_port()   # nothing listens: the bootstrap fails and logs the engine's URL
    srv = ServerProcess(f"http://admin:hunter2secret@127.0.0.1:{port}", index_prefix + "-creds",
                        engine_timeout=1)
    srv.start(wait_ready=False)
    try:
        wait_until(lambda: "index bootstrap failed" in open(srv.log_path, errors="replace").read(),
                   30, "the bootstrap failure in the log")
        log = open(srv.log_path, errors="replace").read()
        assert "hunter2secret" not in log and f"***@127.0.0.1:{port}" in log
    finally:
        srv.stop()
    assert redacted("https://u:p@search:9200/x") == "https://***@search:9200/x"
    assert redacted("http://search:9200") == "http://search:9200"


def test_metrics_in_prometheus_format(server, api):
    team, people = make_team(api, "ann")
    ws = WS(server.url, people["ann"]["token"])
    ws.request({"type": "ping"})
    requests.get(server.url + "/api/me")    # a 401, counted
    body = requests.get(server.url + "/metrics")
    assert body.headers["Content-Type"].startswith("text/plain")
    text = body.text
    for name in ("chatsvc_http_requests_total", "chatsvc_frames_total", "chatsvc_acks_total",
                 "chatsvc_fanout_events_total", "chatsvc_engine_seconds_bucket",
                 "chatsvc_engine_errors_total", "chatsvc_connections", "chatsvc_outbox_frames",
                 "chatsvc_bulk_queue", "chatsvc_cache_entries", "chatsvc_cache_bytes",
                 "chatsvc_throttled_total", "chatsvc_throttle_keys"):
        assert name in text, name
    assert 'chatsvc_frames_total{kind="ping",outcome="ok"}' in text
    assert 'endpoint="/api/me",method="GET",status="401"' in text
    connections = [l for l in text.splitlines() if l.startswith("chatsvc_connections ")]
    assert float(connections[0].split()[1]) >= 1
    ws.close()


def test_request_id_is_echoed_and_logged(server):
    r = requests.get(server.url + "/healthz", headers={"X-Request-Id": "trace-abc-123"})
    assert r.headers["X-Request-Id"] == "trace-abc-123"
    hostile = requests.get(server.url + "/healthz", headers={"X-Request-Id": "x" * 500})
    assert hostile.headers["X-Request-Id"] != "x" * 500        # a new one instead
    wait_until(lambda: "id=trace-abc-123" in open(server.log_path, errors="replace").read(), 5,
               "the access line with the request id")


def test_json_logs_are_one_object_a_line(engine_url, index_prefix):
    srv = ServerProcess(engine_url, index_prefix, log_json=1).start()
    try:
        requests.get(srv.url + "/healthz", headers={"X-Request-Id": "json-line-1"})

        def access_line():
            for line in open(srv.log_path, errors="replace"):
                if "json-line-1" in line and line.lstrip().startswith("{"):
                    return line
            return None
        import json
        record = json.loads(wait_until(access_line, 5, "a JSON access line"))
        assert record["request_id"] == "json-line-1" and record["status"] == 200
        assert record["path"] == "/healthz" and record["logger"] == "chatsvc.access"
    finally:
        srv.stop()

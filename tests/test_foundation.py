"""The foundation: index templates against the real engine, health probes, the OpenAPI
document. Each test runs against the real OpenSearch and, where a server is involved, a
real gunicorn process."""
import json
import re
import uuid

import pytest
import requests
from openapi_spec_validator import validate

from chatsvc.store import Engine
from chatsvc.errors import Unavailable
from chatsvc.store.indices import bootstrap, is_ready, load_templates
from chatsvc.store.scan import scan
from tests.conftest import ServerProcess, drop_prefix, free_port
from tests.helpers import assert_error

# Every REST operation of PROTOCOL.md (v1). Path parameter names are free; positions are not.
PROTOCOL_OPERATIONS = {
    ("get", "/api/admin/export-schedule"),
    ("put", "/api/admin/export-schedule"),
    ("post", "/api/teams"),
    ("post", "/api/auth/signup"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/logout"),
    ("get", "/api/me"),
    ("get", "/api/users"),
    ("get", "/api/contacts"),
    ("put", "/api/contacts/{}"),
    ("delete", "/api/contacts/{}"),
    ("post", "/api/chats"),
    ("get", "/api/chats"),
    ("get", "/api/chats/{}"),
    ("post", "/api/chats/{}/leave"),
    ("get", "/api/chats/{}/messages"),
    ("post", "/api/chats/{}/messages"),
    ("put", "/api/messages/{}/like"),
    ("delete", "/api/messages/{}/like"),
    ("post", "/api/chats/{}/read"),
    ("delete", "/api/messages/{}"),
    ("get", "/api/messages/{}/context"),
    ("get", "/api/search"),
}


@pytest.fixture
def fresh_engine(engine_url):
    """An Engine on a prefix nobody has used; everything under it is removed afterwards."""
    engine = Engine(engine_url, f"tfound-{uuid.uuid4().hex[:8]}")
    yield engine
    drop_prefix(engine_url, engine.prefix)


def _templates(engine_url, prefix):
    r = requests.get(f"{engine_url}/_index_template/{prefix}-*", timeout=30)
    assert r.status_code == 200, r.text
    return {t["name"]: t["index_template"] for t in r.json()["index_templates"]}


def _indices(engine_url, prefix):
    r = requests.get(f"{engine_url}/_cat/indices/{prefix}-*", params={"format": "json", "h": "index"},
                     timeout=30)
    assert r.status_code == 200, r.text
    return sorted(row["index"] for row in r.json())


# -- index templates -------------------------------------------------------------------------

def test_bootstrap_applies_templates_and_is_idempotent(engine_url, fresh_engine):
    kinds = load_templates()
    assert {"messages", "teams", "users", "chats", "reads", "tokens"} <= set(kinds)
    ready, reason = is_ready(fresh_engine)
    assert not ready and "missing" in reason

    created = bootstrap(fresh_engine)
    assert created, "the first bootstrap creates the indices"
    templates = _templates(engine_url, fresh_engine.prefix)
    assert set(templates) == {f"{fresh_engine.prefix}-{kind}" for kind in kinds}
    indices_after_first = _indices(engine_url, fresh_engine.prefix)
    assert sorted(created) == indices_after_first
    assert is_ready(fresh_engine) == (True, "ok")

    assert bootstrap(fresh_engine) == [], "a second bootstrap creates nothing"
    assert _indices(engine_url, fresh_engine.prefix) == indices_after_first
    assert set(_templates(engine_url, fresh_engine.prefix)) == set(templates)
    assert is_ready(fresh_engine) == (True, "ok")


def test_fixed_templates_match_only_their_own_index(engine_url, fresh_engine):
    bootstrap(fresh_engine)
    templates = _templates(engine_url, fresh_engine.prefix)
    p = fresh_engine.prefix
    assert templates[f"{p}-users"]["index_patterns"] == [f"{p}-users"]
    assert templates[f"{p}-tokens"]["index_patterns"] == [f"{p}-tokens"]
    # the users index really got its template's strict mapping
    mapping = requests.get(f"{engine_url}/{p}-users/_mapping", timeout=30).json()
    assert mapping[f"{p}-users"]["mappings"]["dynamic"] == "strict"


def test_messages_template_partitions_by_month_with_routing_and_mapping(engine_url, fresh_engine):
    bootstrap(fresh_engine)
    p = fresh_engine.prefix
    template = _templates(engine_url, p)[f"{p}-messages"]
    assert template["index_patterns"] == [f"{p}-messages-*"]

    # A month nobody has written to yet: the first routed write creates it from the template.
    month_index = f"{p}-messages-2019.07"
    doc = {"id": 123, "chat_id": "42", "team_id": "7", "sender_id": "9",
           "body": "Deploying the release tonight", "created_at": "2019-07-01T10:00:00.000Z",
           "client_msg_id": "c1", "liked_by": [], "hidden_for": [], "deleted": False}
    r = requests.put(f"{engine_url}/{month_index}/_doc/123", params={"routing": "42", "refresh": "true"},
                     json=doc, timeout=30)
    assert r.status_code == 201, r.text

    mapping = requests.get(f"{engine_url}/{month_index}/_mapping", timeout=30).json()[month_index]["mappings"]
    assert mapping["dynamic"] == "strict"
    assert mapping["properties"]["chat_id"]["type"] == "keyword"
    assert mapping["properties"]["body"]["type"] == "text"
    assert mapping.get("_routing", {}).get("required") is True, "messages must be routed by chat_id"

    # routing is required: a write without it is refused instead of landing on a random shard
    r = requests.put(f"{engine_url}/{month_index}/_doc/124", json={**doc, "id": 124}, timeout=30)
    assert r.status_code == 400, r.text
    assert "routing" in r.text
    # the strict mapping refuses fields the design does not know
    r = requests.put(f"{engine_url}/{month_index}/_doc/125", params={"routing": "42"},
                     json={**doc, "id": 125, "surprise": 1}, timeout=30)
    assert r.status_code == 400, r.text

    # the stored document carries its routing, and the body is analysed for search
    got = requests.get(f"{engine_url}/{month_index}/_doc/123", params={"routing": "42"}, timeout=30).json()
    assert got["found"] and got["_routing"] == "42"
    hits = requests.post(f"{engine_url}/{p}-messages-*/_search", params={"routing": "42"},
                         json={"query": {"match": {"body": "deploy"}}}, timeout=30).json()
    assert [h["_id"] for h in hits["hits"]["hits"]] == ["123"]


def test_two_prefixes_live_side_by_side(engine_url, fresh_engine):
    other = Engine(engine_url, f"tfound-{uuid.uuid4().hex[:8]}")
    try:
        bootstrap(fresh_engine)
        bootstrap(other)
        mine = _templates(engine_url, fresh_engine.prefix)
        theirs = _templates(engine_url, other.prefix)
        assert mine and theirs and not set(mine) & set(theirs)
        # deleting one deployment's indices leaves the other ready
        requests.delete(f"{engine_url}/{other.prefix}-*", params={"expand_wildcards": "all"}, timeout=60)
        assert is_ready(fresh_engine) == (True, "ok")
        assert is_ready(other)[0] is False
    finally:
        drop_prefix(engine_url, other.prefix)


def test_bootstrap_against_an_unreachable_engine_raises():
    engine = Engine(f"http://127.0.0.1:{free_port()}", "tfound-down", timeout=2)
    assert is_ready(engine)[0] is False
    with pytest.raises(Unavailable):  # one clear error, not a transport traceback
        bootstrap(engine)


# -- health probes ---------------------------------------------------------------------------

def test_healthz_and_readyz_when_engine_is_up(server):
    assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
    r = requests.get(server.url + "/readyz", timeout=10)
    assert r.status_code == 200, r.text


@pytest.fixture
def server_without_engine(index_prefix):
    # nothing listens on a freshly freed port: the engine is unreachable
    srv = ServerProcess(f"http://127.0.0.1:{free_port()}", index_prefix + "-noengine", engine_timeout=2)
    srv.start(wait_ready=False)
    yield srv
    srv.stop()


def test_readyz_is_503_when_engine_is_unreachable(server_without_engine):
    url = server_without_engine.url
    assert requests.get(url + "/healthz", timeout=10).status_code == 200
    r = requests.get(url + "/readyz", timeout=10)
    assert r.status_code == 503, r.text
    # REST calls that need the engine say "unavailable", not a crash
    r = requests.post(url + "/api/auth/login", json={"team": "t", "username": "u", "password": "password123"},
                      timeout=30)
    assert_error(r, 503, "unavailable")


# -- OpenAPI -----------------------------------------------------------------------------------

def test_openapi_document_is_valid_and_covers_the_protocol(server):
    r = requests.get(server.url + "/api/openapi.json", timeout=10)
    assert r.status_code == 200
    spec = r.json()
    assert spec["openapi"].startswith("3.")
    validate(spec)  # raises on an invalid document
    listed = {(method, re.sub(r"\{[^}]+\}", "{}", path))
              for path, operations in spec["paths"].items() for method in operations}
    missing = PROTOCOL_OPERATIONS - listed
    assert not missing, f"PROTOCOL.md operations missing from the OpenAPI document: {sorted(missing)}"
    # the authenticated operations declare bearer auth, the three open ones do not
    open_ops = {("post", "/api/teams"), ("post", "/api/auth/signup"), ("post", "/api/auth/login")}
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            key = (method, re.sub(r"\{[^}]+\}", "{}", path))
            if key in open_ops:
                assert not op.get("security"), key
            elif key in PROTOCOL_OPERATIONS:
                assert op.get("security"), key


def test_scan_pages_through_every_document_once_in_key_order(engine_url, fresh_engine):
    """The per-team loaders read more than one page: nothing lost, nothing twice."""
    bootstrap(fresh_engine)
    index = fresh_engine.index("reads")
    docs = [{"chat_id": f"c{i % 7}", "team_id": "t1", "user_id": f"u{i:05d}", "message_id": i,
             "updated_at": "2026-11-30T00:00:00.000Z"} for i in range(2345)]
    docs.append(dict(docs[0], team_id="t2"))   # another team's: never returned
    docs[-1]["user_id"] = "other"
    body = "".join(json.dumps({"index": {"_index": index, "_id": f"{d['chat_id']}:{d['user_id']}"}}) + "\n"
                   + json.dumps(d) + "\n" for d in docs)
    r = requests.post(f"{engine_url}/_bulk", data=body, params={"refresh": "true"},
                      headers={"Content-Type": "application/x-ndjson"}, timeout=60)
    assert r.status_code == 200 and not r.json()["errors"]
    got = list(scan(fresh_engine, index, {"term": {"team_id": "t1"}}, ("chat_id", "user_id"), page=500))
    keys = [(d["chat_id"], d["user_id"]) for d in got]
    assert keys == sorted((d["chat_id"], d["user_id"]) for d in docs[:-1])
    assert len(set(keys)) == 2345

"""No 500 on any input (issue 16): a property-based fuzz of every REST operation that
``/api/openapi.json`` documents (schemathesis over hypothesis), against a real server.

Each operation gets CHATSVC_FUZZ_EXAMPLES generated requests (default 8: a budget that fits
CI in about a minute; ``CHATSVC_FUZZ_EXAMPLES=200 scripts/test -k fuzz`` goes deeper), with
a fixed seed (CHATSVC_FUZZ_SEED) so a failure replays. Checks: never a 5xx, and every
documented answer matches its documented schema. The known crashers are pinned below.
"""
import os

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.helpers import Api, make_team, send, team_with_chat

EXAMPLES = int(os.environ.get("CHATSVC_FUZZ_EXAMPLES", "8"))
SEED = int(os.environ.get("CHATSVC_FUZZ_SEED", "16"))
# These end the caller's session: each such case logs in afresh (as bob).
SESSION_ENDING = {"/api/auth/logout", "/api/auth/logout-all", "/api/auth/password"}


@pytest.fixture(scope="module")
def schema(server):
    return schemathesis.openapi.from_url(server.url + "/api/openapi.json")


@pytest.fixture(scope="module")
def people(server):
    """A team with a chat and a message, so ids in generated paths sometimes exist."""
    api = Api(server.url)
    t = team_with_chat(api, "ann", "bob")
    send(t["ann"], t["chat_id"], "hello fuzz")
    return t


def operations(schema):
    return [result.ok() for result in schema.get_all_operations()]


def fresh_token(server, team) -> str:
    """A new token of bob's: the session-ending operations (log out everywhere) must not
    end ann's, which the other cases use."""
    r = requests.post(server.url + "/api/auth/login", json={
        "team": team["name"], "username": "bob", "password": "password123"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["token"]


def test_openapi_lists_every_operation(schema):
    paths = {op.path for op in operations(schema)}
    assert len(paths) >= 25, paths
    assert "/api/auth/password" in paths and "/api/auth/logout-all" in paths


def test_no_operation_answers_5xx_or_breaks_its_schema(server, schema, people):
    token = {"value": people["ann"]["token"]}
    failures, statuses = [], []
    for operation in operations(schema):
        strategy = operation.as_strategy()

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                  suppress_health_check=list(HealthCheck), phases=[hypothesis.Phase.generate])
        @hypothesis.seed(SEED)
        @given(case=strategy)
        def run(case):
            auth = fresh_token(server, people["team"]) if operation.path in SESSION_ENDING \
                else token["value"]
            response = case.call(base_url=server.url, headers={"Authorization": f"Bearer {auth}"},
                                 timeout=30)
            statuses.append(response.status_code)
            try:
                case.validate_response(response, checks=[not_a_server_error,
                                                         response_schema_conformance])
            except Exception as exc:
                failures.append(f"{operation.method.upper()} {operation.path}: "
                                f"{response.status_code} {str(exc)[:300]}\n  {case.as_curl_command()}")
        run()
    assert not failures, "\n".join(failures[:20])
    # The fuzz reached the server: many requests, accepted ones and refused ones.
    assert len(statuses) >= len(operations(schema)) * min(EXAMPLES, 3), len(statuses)
    assert any(s < 300 for s in statuses) and any(400 <= s < 500 for s in statuses), statuses


@pytest.mark.parametrize("call", [
    lambda api, t: api.post("/api/auth/signup", json={
        "team": t["team"]["name"], "invite_code": "ünïcödé-ç0de", "username": "zed",
        "display_name": "Zed", "password": "password123"}),
    lambda api, t: api.post("/api/auth/login", data="[" * 50000 + "]" * 50000,
                            headers={"Content-Type": "application/json"}),
    lambda api, t: api.post("/api/teams", data='{"a":' * 20000 + "1" + "}" * 20000,
                            headers={"Content-Type": "application/json"}),
    lambda api, t: t["ann"]["api"].get("/api/search", params={"q": "before:0999-01-01"}),
    lambda api, t: t["ann"]["api"].get("/api/search", params={"q": "after:0001-01-01 on:9999-12-31"}),
    lambda api, t: t["ann"]["api"].get("/api/search", params={"q": "during:0000"}),
], ids=["non-ascii-invite", "nested-array", "nested-object", "before-year-999",
        "extreme-dates", "year-zero"])
def test_known_crashers_answer_4xx_or_2xx(api, people, call):
    response = call(api, people)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["error"]["code"] in ("bad_request", "forbidden", "rate_limited")


def test_non_ascii_invite_code_is_a_wrong_code(api, people):
    r = api.post("/api/auth/signup", json={"team": people["team"]["name"], "invite_code": "é" * 16,
                                           "username": "eve", "display_name": "Eve",
                                           "password": "password123"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text

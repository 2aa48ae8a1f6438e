"""Teams, users, tokens and uniqueness claims."""
from chatsvc.store.engine import ConflictError, Engine, NotFoundError
from chatsvc.store.scan import scan


# Keys of the uniqueness claims (the claims index): one per team name, one per username in
# a team, both case-insensitive.
def team_key(name: str) -> str:
    return "team:" + name.strip().casefold()


def username_key(team_id: str, username: str) -> str:
    return f"user:{team_id}:{username.casefold()}"


def claim(engine: Engine, key: str, owner_id: str, created_at: str) -> bool:
    """Take the unique ``key`` (e.g. a team name) for ``owner_id``; False if already taken.

    The engine's create-if-absent is the arbiter, so two processes racing for the same
    name cannot both win.
    """
    try:
        engine.call("index", index=engine.index("claims"), id=key, op_type="create",
                    body={"owner_id": owner_id, "created_at": created_at})
        return True
    except ConflictError:
        return False


def claim_owner(engine: Engine, key: str) -> str | None:
    try:
        return engine.call("get", index=engine.index("claims"), id=key)["_source"]["owner_id"]
    except NotFoundError:
        return None


def put_team(engine: Engine, team: dict):
    engine.call("index", index=engine.index("teams"), id=team["id"], body=team)


def get_team(engine: Engine, team_id: str) -> dict | None:
    try:
        return engine.call("get", index=engine.index("teams"), id=team_id)["_source"]
    except NotFoundError:
        return None


def put_user(engine: Engine, user: dict):
    engine.call("index", index=engine.index("users"), id=user["id"], body=user)


def team_users(engine: Engine, team_id: str) -> list[dict]:
    return list(scan(engine, engine.index("users"), {"term": {"team_id": team_id}}, ("id",)))


def set_password_hash(engine: Engine, user_id: str, password_hash: str):
    """A partial update: fields other writers change (last_seen, the picture) stay."""
    engine.call("update", index=engine.index("users"), id=user_id, retry_on_conflict=5,
                body={"doc": {"password_hash": password_hash}})


def set_last_seen(engine: Engine, user_id: str, when: str):
    engine.call("update", index=engine.index("users"), id=user_id, body={"doc": {"last_seen": when}})


def put_token(engine: Engine, token_hash: str, user_id: str, team_id: str, created_at: str):
    engine.call("index", index=engine.index("tokens"), id=token_hash,
                body={"user_id": user_id, "team_id": team_id, "created_at": created_at})


def get_token(engine: Engine, token_hash: str) -> dict | None:
    """A realtime GET: a token works the moment login returns it."""
    try:
        return engine.call("get", index=engine.index("tokens"), id=token_hash)["_source"]
    except NotFoundError:
        return None


def touch_token(engine: Engine, token_hash: str, used_at: str):
    """Record that a token was used (the idle timeout counts from the latest use)."""
    try:
        engine.call("update", index=engine.index("tokens"), id=token_hash,
                    body={"doc": {"used_at": used_at}})
    except NotFoundError:
        pass


def token_docs(engine: Engine, token_hashes: list[str]) -> dict[str, dict]:
    """hash -> document of those of these tokens that still exist (one realtime multi-get)."""
    if not token_hashes:
        return {}
    found = engine.call("mget", index=engine.index("tokens"), body={"ids": token_hashes},
                        realtime=True)
    return {doc["_id"]: doc["_source"] for doc in found["docs"] if doc.get("found")}


def touch_tokens(engine: Engine, used_at: dict[str, str]):
    """Record uses of many tokens (hash -> used_at) in one bulk. A token deleted meanwhile
    fails its item and stays deleted, which is what we want."""
    if used_at:
        index = engine.index("tokens")
        body = []
        for token_hash, when in used_at.items():
            body += [{"update": {"_index": index, "_id": token_hash}}, {"doc": {"used_at": when}}]
        engine.call("bulk", body=body)


def delete_tokens(engine: Engine, token_hashes: list[str]):
    if token_hashes:
        engine.call("bulk", body=[{"delete": {"_index": engine.index("tokens"), "_id": h}}
                                  for h in token_hashes])


def delete_user_tokens(engine: Engine, user_id: str, keep: str | None = None) -> list[str]:
    """Delete every token of a user (but ``keep``); the hashes deleted. The tokens index
    is refreshed first so a token issued a moment ago is found too (a rare call)."""
    engine.call("indices.refresh", index=engine.index("tokens"))
    found = engine.call("search", index=engine.index("tokens"), _source=False,
                        body={"query": {"term": {"user_id": user_id}}, "size": 10000})
    hashes = [hit["_id"] for hit in found["hits"]["hits"] if hit["_id"] != keep]
    delete_tokens(engine, hashes)
    return hashes


def delete_token(engine: Engine, token_hash: str):
    try:
        engine.call("delete", index=engine.index("tokens"), id=token_hash)
    except NotFoundError:
        pass

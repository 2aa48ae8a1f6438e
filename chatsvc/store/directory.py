"""Reads of users by id and by arrival, for instances that share a team directory (issue 18)."""
from chatsvc.store.engine import Engine, NotFoundError


def get_user(engine: Engine, user_id: str) -> dict | None:
    """A real-time GET: a user who signed up through another instance a moment ago."""
    try:
        return engine.call("get", index=engine.index("users"), id=user_id)["_source"]
    except NotFoundError:
        return None


def users_since(engine: Engine, team_ids: list[str], since: str, limit: int = 1000) -> list[dict]:
    """Users of these teams created at or after ``since`` (one search for all teams)."""
    if not team_ids:
        return []
    body = {"size": limit, "query": {"bool": {"filter": [
        {"terms": {"team_id": list(team_ids)}}, {"range": {"created_at": {"gte": since}}}]}}}
    hits = engine.call("search", index=engine.index("users"), body=body,
                       params={"ignore_unavailable": "true"})["hits"]["hits"]
    return [hit["_source"] for hit in hits]

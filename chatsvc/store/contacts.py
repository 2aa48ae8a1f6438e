"""Contact lists: one document per (owner, contact)."""
from chatsvc.store.engine import Engine, NotFoundError
from chatsvc.store.scan import scan


def _id(owner_id: str, contact_id: str) -> str:
    return f"{owner_id}:{contact_id}"


def put(engine: Engine, team_id: str, owner_id: str, contact_id: str, created_at: str):
    engine.call("index", index=engine.index("contacts"), id=_id(owner_id, contact_id),
                body={"team_id": team_id, "owner_id": owner_id, "contact_id": contact_id,
                      "created_at": created_at})


def delete(engine: Engine, owner_id: str, contact_id: str):
    try:
        engine.call("delete", index=engine.index("contacts"), id=_id(owner_id, contact_id))
    except NotFoundError:
        pass


def of_team(engine: Engine, team_id: str) -> list[tuple[str, str]]:
    """(owner_id, contact_id) for every contact entry in the team."""
    return [(d["owner_id"], d["contact_id"])
            for d in scan(engine, engine.index("contacts"), {"term": {"team_id": team_id}},
                           ("owner_id", "contact_id"))]

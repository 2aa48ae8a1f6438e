"""Chats (with their membership history) and read markers."""
from chatsvc.store.bulk import Op
from chatsvc.store.engine import Engine
from chatsvc.store.scan import scan


def put(engine: Engine, chat: dict):
    """Store the whole chat document; chat changes (create, leave) are rare."""
    engine.call("index", index=engine.index("chats"), id=chat["id"], body=chat)


def of_team(engine: Engine, team_id: str) -> list[dict]:
    return list(scan(engine, engine.index("chats"), {"term": {"team_id": team_id}}, ("id",)))


def read_marker_op(engine: Engine, team_id: str, chat_id: str, user_id: str,
                   message_id: int, updated_at: str) -> Op:
    """An upsert that only ever moves the marker forward, even if two writers race."""
    return Op("update", engine.index("reads"), f"{chat_id}:{user_id}", {
        "script": {
            "lang": "painless",
            "source": "if (ctx._source.message_id >= params.m) { ctx.op = 'noop' } "
                      "else { ctx._source.message_id = params.m; ctx._source.updated_at = params.t }",
            "params": {"m": message_id, "t": updated_at},
        },
        "upsert": {"chat_id": chat_id, "team_id": team_id, "user_id": user_id,
                   "message_id": message_id, "updated_at": updated_at},
    })


def reads_of_team(engine: Engine, team_id: str) -> list[dict]:
    return list(scan(engine, engine.index("reads"), {"term": {"team_id": team_id}},
                     ("chat_id", "user_id")))


def settings_op(engine: Engine, team_id: str, chat_id: str, user_id: str, muted: bool,
                notify: str, updated_at: str) -> Op:
    """A member's settings of a chat, written whole (only she changes them)."""
    return Op("index", engine.index("settings"), f"{chat_id}:{user_id}", {
        "chat_id": chat_id, "team_id": team_id, "user_id": user_id, "muted": muted,
        "notify": notify, "updated_at": updated_at})


def settings_of_team(engine: Engine, team_id: str) -> list[dict]:
    return list(scan(engine, engine.index("settings"), {"term": {"team_id": team_id}},
                     ("chat_id", "user_id")))

"""A small Slack workspace export, built in code so the test says what is in it."""
import json
import zipfile

DAY = 86400
T0 = 1_780_000_000          # 2026-05-28T20:26:40Z; days below are offsets from it

USERS = [
    {"id": "U1", "name": "alice", "real_name": "Alice Martin", "profile": {"display_name": "Alice"},
     "is_admin": True},
    {"id": "U2", "name": "bob", "real_name": "Bob Okafor", "profile": {"display_name": ""}},
    {"id": "U3", "name": "carol", "profile": {"real_name": "Carol Chen"}},
    {"id": "U4", "name": "dave", "real_name": "Dave Rossi", "deleted": True},
    {"id": "U5", "name": "Erin.Novak", "real_name": "Erin Novak"},
]
CHANNELS = [{"id": "C1", "name": "general", "created": T0 - DAY, "creator": "U1",
             "members": ["U1", "U2", "U3"], "topic": {"value": "all things"}, "purpose": {"value": ""}}]
GROUPS = [{"id": "G1", "name": "secret", "created": T0, "creator": "U2", "members": ["U1", "U2"]}]
DMS = [{"id": "D1", "created": T0, "members": ["U1", "U2"]}]
MPIMS = [{"id": "M1", "name": "mpdm-alice--bob--carol-1", "created": T0, "members": ["U1", "U2", "U3"]}]


def ts(seconds: float) -> str:
    return f"{seconds:.6f}"


def day(offset_days: int) -> str:
    import time
    return time.strftime("%Y-%m-%d", time.gmtime(T0 + offset_days * DAY))


def messages() -> dict[str, list]:
    """{zip path: messages}. general has 3 days; dave joins, posts and leaves; a thread of
    three replies (one broadcast to the channel) and a reply whose root is not in the export;
    likes, emoji reactions (a skin tone, a reactor unknown to the import) and a custom emoji;
    an edit; a file; markup."""
    g0 = [
        {"type": "message", "subtype": "channel_join", "user": "U4", "text": "<@U4> has joined the channel",
         "ts": ts(T0 + 10)},
        {"type": "message", "user": "U1", "text": "Morning <@U2>! See <https://example.com/plan|the plan> &amp; <#C1|general>",
         "ts": ts(T0 + 60.000123), "thread_ts": ts(T0 + 60.000123), "reply_count": 3,
         "reply_users": ["U2", "U3", "U1"],
         "reactions": [{"name": "+1", "users": ["U2", "U3"], "count": 2},
                       {"name": "tada", "users": ["U3"], "count": 1},
                       {"name": "heart", "users": ["U2", "U9", "U1"], "count": 3},
                       {"name": "partyparrot", "users": ["U2"], "count": 1}]},
        {"type": "message", "user": "U2", "text": "on it", "ts": ts(T0 + 120), "thread_ts": ts(T0 + 60.000123)},
        {"type": "message", "subtype": "thread_broadcast", "user": "U3", "text": "plan looks good to me",
         "ts": ts(T0 + 150), "thread_ts": ts(T0 + 60.000123)},
        {"type": "message", "user": "U1", "text": "thanks both", "ts": ts(T0 + 170.5),
         "thread_ts": ts(T0 + 60.000123)},
        {"type": "message", "user": "U4", "text": "bye all, last day", "ts": ts(T0 + 180)},
        {"type": "message", "subtype": "channel_leave", "user": "U4", "text": "<@U4> has left the channel",
         "ts": ts(T0 + 200)},
    ]
    g1 = [
        {"type": "message", "user": "U3", "text": "deployed the kangaroo release", "ts": ts(T0 + DAY + 5),
         "edited": {"user": "U3", "ts": ts(T0 + DAY + 50)}},
        {"type": "message", "user": "U2", "text": "late to this thread", "ts": ts(T0 + DAY + 60),
         "thread_ts": ts(T0 - 5 * DAY)},
        {"type": "message", "subtype": "file_share", "user": "U1", "text": "", "ts": ts(T0 + DAY + 90),
         "files": [{"id": "F1", "name": "notes.pdf", "title": "Notes", "mimetype": "application/pdf",
                    "url_private": "https://files.slack.com/F1/notes.pdf"}]},
        {"type": "message", "subtype": "bot_message", "bot_id": "B1", "username": "deploybot",
         "text": "build 42 passed", "ts": ts(T0 + DAY + 100)},
    ]
    g2 = [{"type": "message", "user": "U5", "text": "hello from a poster who is not a member",
           "ts": ts(T0 + 2 * DAY + 1)},
          {"type": "message", "user": "U1", "text": "thumbs for this", "ts": ts(T0 + 2 * DAY + 2),
           "reactions": [{"name": "thumbsup::skin-tone-3", "users": ["U3"], "count": 1}]}]
    return {
        f"general/{day(0)}.json": g0, f"general/{day(1)}.json": g1, f"general/{day(2)}.json": g2,
        f"secret/{day(0)}.json": [{"type": "message", "user": "U2", "text": "secret plans", "ts": ts(T0 + 300)}],
        f"D1/{day(0)}.json": [{"type": "message", "user": "U1", "text": "psst bob", "ts": ts(T0 + 400)},
                              {"type": "message", "user": "U2", "text": "yes?", "ts": ts(T0 + 401)}],
        f"mpdm-alice--bob--carol-1/{day(1)}.json": [
            {"type": "message", "user": "U3", "text": "lunch?", "ts": ts(T0 + DAY + 500)}],
    }


EXPECTED_MESSAGES = 15   # everything above but the join and the leave


def write(path: str, *, drop: tuple = (), replace: dict | None = None, extra: dict | None = None) -> str:
    files = {"users.json": USERS, "channels.json": CHANNELS, "groups.json": GROUPS, "dms.json": DMS,
             "mpims.json": MPIMS, **messages()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():
            if name in drop:
                continue
            data = (replace or {}).get(name)
            z.writestr(name, data if isinstance(data, (str, bytes)) else json.dumps(content if data is None else data))
        for name, content in (extra or {}).items():
            z.writestr(name, content if isinstance(content, (str, bytes)) else json.dumps(content))
    return path

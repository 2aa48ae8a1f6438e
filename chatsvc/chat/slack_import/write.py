"""Pass 2 of an import: write the team, its users, chats and contacts, then every message in
bulk with the send path's idempotency claims (a second run adds nothing)."""
import re
import secrets
import zlib
from collections import Counter
from dataclasses import dataclass, field

from chatsvc.chat.accounts import avatar_color
from chatsvc.chat.links import has_link
from chatsvc.chat.slack_import.mapping import Mapped, map_message
from chatsvc.chat.slack_import.plan import ChatPlan, Plan, check
from chatsvc.errors import Unavailable
from chatsvc.ids import EPOCH_MS, id_at, millis_iso, now_iso
from chatsvc.slackexport import ArchiveError, SlackArchive
from chatsvc.store import accounts as account_store
from chatsvc.store import imports as import_store
from chatsvc.store.accounts import team_key, username_key
from chatsvc.store.messages import idempotency_key
from chatsvc.store.messages import lookup_idempotency as message_lookup_idempotency
from chatsvc.wire import USERNAME

IMPORT_WORKER = 1022        # snowflake worker of imported messages (the corpus has 1023)
CHAT_WORKER = 1021          # ... and of imported chats
BATCH = 4000                # messages per _bulk (two documents each)
IN_FLIGHT = 2               # _bulk requests at once
MAX_ATTEMPTS = 5

EXIT_OK, EXIT_ARCHIVE, EXIT_TEAM, EXIT_ENGINE, EXIT_INCOMPLETE = 0, 2, 3, 4, 5

class ImportFailed(Exception):
    def __init__(self, exit_code: int, message: str):
        super().__init__(message)
        self.exit_code = exit_code
        self.message = message


@dataclass
class Summary:
    team: dict
    team_created: bool
    users_created: int = 0
    users_existing: int = 0
    chats_created: int = 0
    chats_existing: int = 0
    messages_imported: int = 0
    messages_present: int = 0
    skipped: Counter = field(default_factory=Counter)
    mapped: Counter = field(default_factory=Counter)
    unlisted_folders: list = field(default_factory=list)
    elapsed_s: float = 0.0


def _team(ctx, name: str, plan: Plan) -> tuple[dict, bool]:
    name = name.strip()
    if not 1 <= len(name) <= 64:
        raise ImportFailed(EXIT_TEAM, "the team name must be 1-64 characters")
    team_id = ctx.new_id()
    if account_store.claim(ctx.engine, team_key(name), team_id, now_iso()):
        team = {"id": team_id, "name": name, "name_key": name.casefold(),
                "invite_code": secrets.token_urlsafe(12), "admin_id": None, "created_at": now_iso()}
        account_store.put_team(ctx.engine, team)
        return team, True
    owner = account_store.claim_owner(ctx.engine, team_key(name))
    team = account_store.get_team(ctx.engine, owner) if owner else None
    if team is None:
        raise ImportFailed(EXIT_TEAM, f"the team name {name!r} is claimed but the team is missing")
    return team, False


def _users(ctx, team: dict, plan: Plan, summary: Summary) -> dict[str, str]:
    """{Slack user or bot key: chatsvc user id}: existing usernames are those accounts."""
    engine, now = ctx.engine, now_iso()
    wanted = {}  # Slack key -> (new id, username)
    for key, username in plan.usernames.items():
        assert USERNAME.match(username), username
        wanted[key] = (ctx.new_id(), username)
    keys = {key: username_key(team["id"], username) for key, (_, username) in wanted.items()}
    results = import_store.write_ops(engine, [import_store.claim_op(engine, keys[k], uid, now)
                                              for k, (uid, _) in wanted.items()])
    ids, new_docs, lost = {}, [], []
    for (key, (uid, username)), (status, error) in zip(wanted.items(), results):
        if status == 201:
            ids[key] = uid
            entry = plan.archive.users.get(key, {})
            new_docs.append({
                "id": uid, "team_id": team["id"], "username": username, "username_key": username.casefold(),
                "display_name": plan.display[key], "avatar_color": avatar_color(username),
                "password_hash": "", "is_admin": key in plan.admins and not entry.get("deleted"),
                "created_at": now, "unclaimed": True, "imported_from": "slack:" + key})
        elif status == 409:
            lost.append(key)
        else:
            raise ImportFailed(EXIT_ENGINE, f"the engine refused a username claim: {status} {error}")
    owners = import_store.claim_owners(engine, [keys[k] for k in lost])
    for key in lost:
        ids[key] = owners[keys[key]]
    existing = import_store.get_docs(engine, "users", [ids[k] for k in lost])
    for key in lost:  # a claim whose user document never got written: write it now
        if ids[key] not in existing:
            uid = ids[key]
            new_docs.append({
                "id": uid, "team_id": team["id"], "username": wanted[key][1],
                "username_key": wanted[key][1].casefold(), "display_name": plan.display[key],
                "avatar_color": avatar_color(wanted[key][1]), "password_hash": "", "is_admin": False,
                "created_at": now, "unclaimed": True, "imported_from": "slack:" + key})
    _check(import_store.write_ops(engine, [import_store.doc_op(engine, "users", d["id"], d) for d in new_docs]))
    summary.users_created = len(new_docs)
    summary.users_existing = len(wanted) - len(new_docs)
    if team.get("admin_id") is None and new_docs:
        admin = next((d for d in new_docs if d["is_admin"]), None)
        if admin is not None:
            team["admin_id"] = admin["id"]
            account_store.put_team(engine, team)
    return ids


def _check(results):
    for status, error in results:
        if status not in (200, 201):
            if status in (429, 503) or status >= 500:
                raise Unavailable(f"the engine could not store a document ({status})")
            raise ImportFailed(EXIT_ENGINE, f"the engine refused a document: {status} {error}")


def _chat_doc(ctx, team: dict, cp: ChatPlan, ids: dict[str, str]) -> dict:
    conv = cp.conv
    created_us = conv.created * 1_000_000 if conv.created else (cp.first_ts or EPOCH_MS * 1000)
    created_ms = max(EPOCH_MS, min(created_us // 1000, (cp.first_ts or created_us) // 1000))
    created_at = millis_iso(created_ms)
    members = [m for m in cp.members if m in ids]
    leavers = {u for u, t in cp.left.items() if u not in members and t >= cp.joined.get(u, 0)}
    leavers |= {u for u in cp.posters if u not in members and u in ids and not u.startswith("bot:")
                and conv.kind not in ("direct",)}
    membership = []
    for u in members:
        joined = cp.joined.get(u)
        membership.append({"user_id": ids[u], "left_at": None,
                           "joined_at": millis_iso(max(EPOCH_MS, joined // 1000)) if joined else created_at})
    for u in sorted(leavers):
        joined, left = cp.joined.get(u), cp.left.get(u) or cp.posters.get(u)
        membership.append({"user_id": ids[u],
                           "joined_at": millis_iso(max(EPOCH_MS, joined // 1000)) if joined else created_at,
                           "left_at": millis_iso(max(EPOCH_MS, left // 1000)) if left else created_at})
    member_ids = [ids[u] for u in members]
    if conv.kind == "direct" and len(member_ids) == 2:
        kind, title = "direct", None
    elif conv.kind == "direct":
        kind, title = "group", "Notes"
    else:
        kind, title = "group", (conv.name if conv.kind in ("channel", "private") else None)
    creator = ids.get(conv.creator or "") or (member_ids[0] if member_ids else None) \
        or (ids[next(iter(cp.posters))] if cp.posters else None)
    return {"id": None, "team_id": team["id"], "kind": kind, "title": title,
            "member_ids": member_ids, "former_member_ids": [ids[u] for u in sorted(leavers)],
            "membership": membership, "created_by": creator, "created_at": created_at,
            "_created_ms": created_ms}


def _chats(ctx, team: dict, plan: Plan, ids: dict[str, str], summary: Summary) -> dict[str, str]:
    """{Slack conversation id: chat id}. A claim per conversation keeps a re-run on the same
    chats; a direct conversation of a pair that already has a direct chat joins that chat."""
    engine, now = ctx.engine, now_iso()
    state = ctx.teams.get(team["id"])
    claim_keys = {cp.conv.id: f"slack:{team['id']}:{cp.conv.id}" for cp in plan.chats}
    owners = import_store.claim_owners(engine, list(claim_keys.values()))
    existing = import_store.get_docs(engine, "chats", list(owners.values()))
    chat_ids = {}
    for cp in plan.chats:
        key = claim_keys[cp.conv.id]
        if key in owners and owners[key] in existing:
            chat_ids[cp.conv.id] = owners[key]
            summary.chats_existing += 1
            continue
        doc = _chat_doc(ctx, team, cp, ids)
        created_ms = doc.pop("_created_ms")
        if doc["kind"] == "direct":
            a, b = doc["member_ids"]
            live = next((state.chats[c] for c in state.member_chats.get(a, ()) if state.chats[c]["kind"] == "direct"
                         and b in state.chats[c]["member_ids"]), None)
            if live is not None:
                chat_ids[cp.conv.id] = live["id"]
                import_store.write_ops(engine, [import_store.claim_op(engine, key, live["id"], now)])
                summary.chats_existing += 1
                continue
        seq = zlib.crc32(cp.conv.id.encode()) & 0xFFF
        for attempt in range(64):
            chat_id = owners.get(key) or str(id_at(created_ms, CHAT_WORKER, (seq + attempt) & 0xFFF))
            doc["id"] = chat_id
            (status, error), = import_store.write_ops(engine, [import_store.doc_op(engine, "chats", chat_id, doc,
                                                                                   create=key not in owners)])
            if status in (200, 201):
                break
            if status != 409:
                _check([(status, error)])
        else:
            raise ImportFailed(EXIT_ENGINE, f"no free chat id for conversation {cp.conv.id}")
        if key not in owners:
            (status, error), = import_store.write_ops(engine, [import_store.claim_op(engine, key, chat_id, now)])
            if status == 409:  # another import of this export won the race: use its chat
                import_store.write_ops(engine, [import_store.Op("delete", engine.index("chats"), chat_id)])
                chat_ids[cp.conv.id] = import_store.get_claim_owner(engine, key)
                summary.chats_existing += 1
                continue
            _check([(status, error)])
        chat_ids[cp.conv.id] = chat_id
        summary.chats_created += 1
    return chat_ids


def _contacts(ctx, team: dict, plan: Plan, ids: dict[str, str]):
    """People who had a direct conversation become each other's contacts."""
    engine, now = ctx.engine, now_iso()
    ops = []
    for cp in plan.chats:
        if cp.conv.kind in ("direct", "mpim"):
            people = [ids[m] for m in cp.members if m in ids]
            ops += [import_store.contact_op(engine, team["id"], a, b, now) for a in people for b in people if a != b]
    for i in range(0, len(ops), 2000):
        _check(import_store.write_ops(engine, ops[i:i + 2000]))


def _message_id(ts: int, crc: int) -> int:
    ms, micros = divmod(ts, 1000)
    # Unique within the millisecond: the microseconds (Slack's ts is unique per
    # conversation) and two bits of the conversation.
    return id_at(ms, IMPORT_WORKER, micros * 4 + crc)


def _message_docs(plan: Plan, team_id: str, ids: dict[str, str], chat_ids: dict[str, str],
                  thread_roots: list | None = None):
    """Every message document to write, with its idempotency key, conversation by
    conversation. A reply's ``thread_id`` is its root's id (made from the root's ts like
    every id); a root carries its thread summary from the check pass. ``thread_roots``
    collects (chat id, root id, root's idempotency key) of the roots written."""
    archive, names, channels, roots = plan.archive, plan.usernames, plan.channel_names, plan.roots
    max_body = plan.max_body
    for cp in plan.chats:
        conv_id = cp.conv.id
        chat_id = chat_ids[conv_id]
        crc = zlib.crc32(conv_id.encode()) & 3
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", conv_id)[:24]
        for ts, msg, _ in archive.messages(cp.conv):
            if ts // 1000 < EPOCH_MS:
                continue
            result = map_message(msg, ts, conv_id, names, channels, roots, max_body)
            if not isinstance(result, Mapped):
                continue
            sender_id = ids.get(result.sender)
            if sender_id is None:
                continue
            ms = ts // 1000
            mid = _message_id(ts, crc)
            cmid = f"slack-{safe}-{ts // 1_000_000}_{ts % 1_000_000:06d}"
            liked_by = [ids[u] for u in result.liked_by if u in ids]
            doc = {"id": mid, "chat_id": chat_id, "team_id": team_id, "sender_id": sender_id,
                   "body": result.body, "created_at": millis_iso(ms), "client_msg_id": cmid,
                   "liked_by": liked_by, "like_count": len(liked_by), "hidden_for": [], "deleted": False,
                   "has_link": has_link(result.body)}
            key = idempotency_key(sender_id, cmid)
            if result.reactions:
                doc["reactions"] = [{"emoji": e, "user_ids": [ids[u] for u in users if u in ids]}
                                    for e, users in result.reactions]
            if result.edited_ts is not None:
                doc["edited_at"] = millis_iso(max(ms, result.edited_ts // 1000))
            if result.thread_root is not None:
                doc["thread_id"] = _message_id(result.thread_root, crc)
                doc["also_in_chat"] = result.also_in_chat
            elif msg.get("thread_ts"):
                thread = roots.get((conv_id, ts))
                if thread is not None and thread.reply_count:
                    doc["reply_count"] = thread.reply_count
                    doc["last_reply_at"] = millis_iso(thread.last_reply_ts // 1000)
                    doc["reply_user_ids"] = [ids[u] for u in thread.repliers if u in ids]
                    if thread_roots is not None:
                        thread_roots.append((chat_id, mid, key))
            yield doc, key


def _write_batch(engine, batch: list[tuple[dict, str]]) -> tuple[int, int, list]:
    """(imported, already present, items to retry) of one batch."""
    outcomes = import_store.write_messages(engine, batch)
    imported = present = 0
    release, delete, retry = [], [], []
    for (doc, key), out in zip(batch, outcomes):
        if out.claim == 201 and out.write == 201:
            imported += 1
        elif out.claim == 409:
            present += 1
            if out.write == 201:  # a copy under another id than the first run's: remove it
                delete.append(doc)
        elif out.claim == 201 and out.write == 409:  # the id is another message's
            release.append(key)
            retry.append((dict(doc, id=_next_worker(doc["id"])), key))
        elif out.claim in (429, 503) or out.claim >= 500 or out.write in (429, 503) or out.write >= 500:
            if out.claim == 201:
                release.append(key)
            if out.write == 201:
                delete.append(doc)
            retry.append((doc, key))
        else:
            raise ImportFailed(EXIT_INCOMPLETE, f"the engine refused message {doc['client_msg_id']}: {out.error}")
    if release or delete:
        import_store.undo_messages(engine, release, delete)
    return imported, present, retry


def _next_worker(mid: int) -> int:
    """The same time and sequence under the next lower worker number."""
    worker = (mid >> 12) & 0x3FF
    return (mid & ~(0x3FF << 12)) | (((worker - 1) % 1024) << 12)


def _batches(items, size):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def write_messages(ctx, plan: Plan, team_id: str, ids, chat_ids, summary: Summary, progress=None):
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415
    import time  # noqa: PLC0415

    engine = ctx.engine
    pending: list = []
    thread_roots: list = []
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        futures = []

        def drain(keep: int):
            while len(futures) > keep:
                imported, present, retry = futures.pop(0).result()
                summary.messages_imported += imported
                summary.messages_present += present
                pending.extend(retry)
                if progress:
                    progress(imported + present)
        for batch in _batches(_message_docs(plan, team_id, ids, chat_ids, thread_roots), BATCH):
            futures.append(pool.submit(_write_batch, engine, batch))
            drain(IN_FLIGHT)
        drain(0)
    attempt = 0
    while pending:
        attempt += 1
        if attempt > MAX_ATTEMPTS:
            raise ImportFailed(EXIT_INCOMPLETE, f"{len(pending)} messages could not be stored after "
                                                f"{MAX_ATTEMPTS} attempts; run the import again to finish")
        time.sleep(min(5, 0.5 * attempt))
        retry, pending = pending, []
        for batch in _batches(retry, BATCH):
            imported, present, again = _write_batch(engine, batch)
            summary.messages_imported += imported
            summary.messages_present += present
            pending.extend(again)
            if progress:
                progress(imported + present)
    _follow_moved_roots(engine, thread_roots)


def _follow_moved_roots(engine, thread_roots: list):
    """Replies carry the id their root was meant to have. A root stored under another id
    (its id was another message's, so it moved to the next worker; or an earlier run
    stored it) is found from its idempotency claim, and its replies are pointed at it:
    one update by query per chat that has such a root (none in the usual case)."""
    moved: dict[str, dict[str, int]] = {}
    for i in range(0, len(thread_roots), 5000):
        chunk = thread_roots[i:i + 5000]
        claims = message_lookup_idempotency(engine, [key for _, _, key in chunk])
        for chat_id, mid, key in chunk:
            actual = claims.get(key, {}).get("message_id")
            if actual is not None and int(actual) != mid:
                moved.setdefault(chat_id, {})[str(mid)] = int(actual)
    if moved:
        import_store.refresh(engine)
    for chat_id, ids in moved.items():
        import_store.move_thread_ids(engine, chat_id, ids)


def import_slack(ctx, path: str, team_name: str, *, skip_unknown_users: bool = False,
                 progress_factory=None) -> Summary:
    """Import the export at ``path`` into team ``team_name`` (created if needed).

    ``progress_factory(total, label)`` returns a callable taking a count (or None), and
    may have ``close()``. Raises ImportFailed (with an exit code) or Unavailable."""
    import time  # noqa: PLC0415
    started = time.monotonic()
    try:
        archive = SlackArchive(path)
    except ArchiveError as exc:
        raise ImportFailed(EXIT_ARCHIVE, exc.message) from None
    with archive:
        try:
            plan = check(archive, skip_unknown_users=skip_unknown_users,
                         max_body_chars=ctx.config.max_body_chars)
        except ArchiveError as exc:
            raise ImportFailed(EXIT_ARCHIVE, f"{path}: {exc.message}; nothing was imported") from None
        import_store.ensure_fields(ctx.engine)
        team, created = _team(ctx, team_name, plan)
        summary = Summary(team, created, skipped=plan.skipped, mapped=plan.mapped + plan.memberships,
                          unlisted_folders=archive.unlisted_folders)
        ctx.teams.evict(team["id"])
        ids = _users(ctx, team, plan, summary)
        chat_ids = _chats(ctx, team, plan, ids, summary)
        _contacts(ctx, team, plan, ids)
        bar = progress_factory(plan.messages, "messages") if progress_factory else None
        paused = import_store.pause_refresh(ctx.engine, sorted(plan.months))
        try:
            write_messages(ctx, plan, team["id"], ids, chat_ids, summary, bar)
        finally:
            import_store.resume_refresh(ctx.engine, paused)
            if bar is not None and hasattr(bar, "close"):
                bar.close()
        import_store.refresh(ctx.engine)
        ctx.teams.evict(team["id"])   # this process's cache, if any, reloads what was written
    summary.elapsed_s = time.monotonic() - started
    return summary


def summary_lines(s: Summary) -> list[str]:
    rate = f" in {s.elapsed_s:.1f} s ({s.messages_imported / s.elapsed_s:,.0f} messages/s)" \
        if s.elapsed_s and s.messages_imported else ""
    lines = [f"team {s.team['name']!r} ({'created' if s.team_created else 'existing'}); "
             f"invite code: {s.team['invite_code']}",
             f"users: {s.users_created} created, {s.users_existing} existing accounts",
             f"chats: {s.chats_created} created, {s.chats_existing} already there",
             f"messages: {s.messages_imported} imported, {s.messages_present} already there{rate}"]
    if s.mapped:
        lines.append("mapped: " + "; ".join(f"{k}: {v}" for k, v in sorted(s.mapped.items())))
    skipped = sum(s.skipped.values())
    lines.append(f"skipped: {skipped}" + (" (" + "; ".join(f"{k}: {v}" for k, v in sorted(s.skipped.items())) + ")"
                                          if skipped else ""))
    if s.unlisted_folders:
        lines.append("skipped folders (not in channels/groups/dms/mpims.json): " + ", ".join(s.unlisted_folders))
    return lines

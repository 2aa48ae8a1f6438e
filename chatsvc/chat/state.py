"""What the process keeps in memory for each team it serves.

docs/architecture.md ("State is a cache"): one process serves a team, so its users, contacts, chats and read markers are
loaded once (at the team's first use) and then kept current by the same code that writes
them. Each chat's recent messages are kept as a :class:`Tail`, so history, the chat list
and unread counts answer without a refresh of the engine.
"""
import bisect
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from gevent.event import Event

from chatsvc import store
from chatsvc.chat.budget import CacheBudget, estimate
from chatsvc.errors import NotFound, Unavailable
from chatsvc.ids import forget_older, id_millis
from chatsvc.store import accounts as account_store
from chatsvc.store import chats as chat_store
from chatsvc.store import contacts as contact_store
from chatsvc.store import messages as message_store
from chatsvc.store.indices import refresh_for_team_load


def _message_id(doc: dict) -> int:
    return doc["id"]


# How long a message's chat is remembered by id outside the tails: until a search by id
# surely finds it (the refresh interval, with a wide margin). Bounded by time rather than
# by count, the map holds a few seconds of sends whatever the run's length (issue 16).
RECENT_SECONDS = 10.0
# Thread roots older than a tail kept beside it, per chat: a thread stays active long after
# its root scrolled out of the latest messages, and each reply changes the root (its
# summary), which would otherwise cost a realtime GET per reply.
ROOTS_KEPT = 16


class Tail:
    """The latest messages of one chat, ascending by id.

    ``complete`` is True when the tail starts at the chat's first message. While the
    first load is in flight (``loading``), new messages are still appended and merged
    with what the engine returns, so none is lost to the race.
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.messages: list[dict] = []
        self.by_id: dict[int, dict] = {}
        # Roots of recent replies that are older than ``messages`` (ROOTS_KEPT, least
        # recently replied to first out). Never part of ``messages``: history and counts
        # see only the contiguous latest messages.
        self.roots: OrderedDict[int, dict] = OrderedDict()
        self.complete = False
        self.evicted_at = float("-inf")
        self.loaded = Event()

    def fill(self, newest_first: list[dict]):
        # Merge what the engine returned with what arrived during the load: sort once.
        for doc in newest_first:
            self.by_id.setdefault(doc["id"], doc)
        self.messages = sorted(self.by_id.values(), key=_message_id)
        self.complete = len(newest_first) < self.capacity
        self._trim()
        self.loaded.set()

    def append(self, doc: dict):
        self._insert(doc)
        self._trim()

    def _insert(self, doc: dict):
        self.by_id[doc["id"]] = doc
        if not self.messages or self.messages[-1]["id"] < doc["id"]:
            self.messages.append(doc)
        else:  # rare: a message published late (see send.py) keeps its place by id
            bisect.insort(self.messages, doc, key=_message_id)

    def _trim(self):
        while len(self.messages) > self.capacity:
            gone = self.messages.pop(0)
            del self.by_id[gone["id"]]
            self.complete = False
            self.evicted_at = time.monotonic()

    def get(self, message_id: int) -> dict | None:
        """The in-memory copy of one of the latest messages or of a kept root."""
        return self.by_id.get(message_id) or self.roots.get(message_id)

    def keep_root(self, doc: dict) -> dict:
        """Keep a thread root read from the engine (older than the tail) as this chat's
        copy of it; returns the copy every change should go to."""
        held = self.get(doc["id"])
        if held is not None:
            if doc["id"] in self.roots:
                self.roots.move_to_end(doc["id"])
            return held
        self.roots[doc["id"]] = doc
        while len(self.roots) > ROOTS_KEPT:
            self.roots.popitem(last=False)
        return doc

    def held(self) -> list[dict]:
        """Every copy here: the latest messages and the kept roots."""
        return self.messages + list(self.roots.values())

    def evicted_unrefreshed(self, refresh_interval: float = 1.5) -> bool:
        """True when a message left the tail so recently that the engine's searches may
        not see it yet (only at hundreds of messages per second into one chat)."""
        return time.monotonic() - self.evicted_at < refresh_interval

    def discard(self, ids: set[int]) -> int:
        """Forget these messages (deleted by retention); how many were here."""
        gone = [i for i in ids if i in self.by_id]
        if gone:
            for i in gone:
                del self.by_id[i]
            self.messages = [m for m in self.messages if m["id"] in self.by_id]
        roots = [i for i in ids if self.roots.pop(i, None) is not None]
        return len(gone) + len(roots)

    @property
    def oldest_id(self) -> int | None:
        return self.messages[0]["id"] if self.messages else None


@dataclass
class TeamState:
    team: dict
    users: dict[str, dict] = field(default_factory=dict)
    by_username: dict[str, str] = field(default_factory=dict)
    contacts: dict[str, set] = field(default_factory=dict)      # owner -> contact ids
    contact_of: dict[str, set] = field(default_factory=dict)    # contact -> owner ids
    chats: dict[str, dict] = field(default_factory=dict)
    member_chats: dict[str, set] = field(default_factory=dict)  # user -> current chat ids
    reads: dict[str, dict] = field(default_factory=dict)        # chat -> {user: message id}
    settings: dict[str, dict] = field(default_factory=dict)     # chat -> {user: {muted, notify}}
    tails: dict[str, Tail] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.team["id"]

    def add_user(self, user: dict):
        self.users[user["id"]] = user
        self.by_username[user["username_key"]] = user["id"]

    def add_contact(self, owner_id: str, contact_id: str):
        self.contacts.setdefault(owner_id, set()).add(contact_id)
        self.contact_of.setdefault(contact_id, set()).add(owner_id)

    def remove_contact(self, owner_id: str, contact_id: str):
        self.contacts.get(owner_id, set()).discard(contact_id)
        self.contact_of.get(contact_id, set()).discard(owner_id)

    def put_chat(self, chat: dict):
        old = self.chats.get(chat["id"])
        for uid in (old or {}).get("member_ids", []):
            self.member_chats.get(uid, set()).discard(chat["id"])
        self.chats[chat["id"]] = chat
        for uid in chat["member_ids"]:
            self.member_chats.setdefault(uid, set()).add(chat["id"])

    def chat_for_member(self, chat_id: str, user_id: str) -> dict:
        """The chat if the user is a current member; NotFound otherwise (never revealing
        whether it exists)."""
        chat = self.chats.get(chat_id)
        if chat is None or user_id not in chat["member_ids"]:
            raise NotFound("no such chat")
        return chat


class TeamStates:
    """Loads each team's state on first use and keeps it. Concurrent first uses of one
    team wait for a single load."""

    def __init__(self, engine: store.Engine, tail_size: int, cache_mb: float = 256.0):
        self._engine = engine
        self._tail_size = tail_size
        self.budget = CacheBudget(cache_mb * 1024 * 1024)   # issue 16: LRU under CHATSVC_CACHE_MB
        # message id -> chat id entries: at most a tenth of the budget at ~150 bytes each
        # (issue 16), and only RECENT_SECONDS of sends.
        self._recent_limit = max(10_000, min(200_000, int(cache_mb * 2**20 / 10 / 150)))
        self._teams: dict[str, TeamState] = {}
        self._loading: dict[str, Event] = {}
        # Scale-out (issue 18): chat.ownership.Ownership, or None for a single instance.
        # Every use of a team asks it first: a team is served only under its lease.
        self.guard = None
        # message id -> chat id for messages of the last RECENT_SECONDS, so a like or delete
        # by id finds its chat (and so its routing) without a search that might predate a
        # refresh, even when the message is in no tail (see chat_of).
        self.recent_chat_of: OrderedDict[int, str] = OrderedDict()

    def get(self, team_id: str) -> TeamState:
        if self.guard is not None:
            self.guard.ensure(team_id)
        while team_id not in self._teams:
            pending = self._loading.get(team_id)
            if pending is not None:
                pending.wait()
                continue
            self._loading[team_id] = Event()
            try:
                self._teams[team_id] = self._load(team_id)
            finally:
                self._loading.pop(team_id).set()
        self.budget.touch_team(team_id)
        return self._teams[team_id]

    def add(self, state: TeamState):
        """A team created by this process: nothing to load (behind the proxy, only kept
        if this instance serves it; its owner loads it from the engine)."""
        if self.serves(state.id):
            self._teams[state.id] = state
            self.budget.touch_team(state.id)

    def serves(self, team_id: str) -> bool:
        """True unless another instance may own the team (always True without a guard)."""
        return self.guard is None or self.guard.serves(team_id)

    def evict(self, team_id: str):
        """Forget a team's state: its next use loads it again from the engine (after
        something outside the normal paths, such as an import, wrote to it)."""
        self._teams.pop(team_id, None)
        self.budget.forget_team(team_id)

    def peek(self, team_id: str) -> TeamState | None:
        """The team's state if this process has it loaded (never loads it)."""
        return self._teams.get(team_id)

    def discard_messages(self, team_id: str, chat_id: str, ids: set[int]) -> int:
        """Messages deleted outside the normal paths (retention): out of the chat's tail,
        so history and the chat list stop serving them at once."""
        for i in ids:
            self.recent_chat_of.pop(i, None)
        state = self._teams.get(team_id)
        tail = state.tails.get(chat_id) if state is not None else None
        return tail.discard(ids) if tail is not None else 0

    def _load(self, team_id: str) -> TeamState:
        engine = self._engine
        team = account_store.get_team(engine, team_id)
        if team is None:
            raise NotFound("no such team")
        # Once per team per process: what another process (an earlier life of this one, an
        # import, another instance) wrote a moment ago becomes searchable, so the scans and
        # tails below miss nothing: a user who just signed up elsewhere can log in here.
        refresh_for_team_load(engine)
        state = TeamState(team)
        for user in account_store.team_users(engine, team_id):
            user.pop("_id", None)
            state.add_user(user)
        for owner, contact in contact_store.of_team(engine, team_id):
            state.add_contact(owner, contact)
        for chat in chat_store.of_team(engine, team_id):
            chat.pop("_id", None)
            state.put_chat(chat)
        for read in chat_store.reads_of_team(engine, team_id):
            state.reads.setdefault(read["chat_id"], {})[read["user_id"]] = read["message_id"]
        for item in chat_store.settings_of_team(engine, team_id):
            state.settings.setdefault(item["chat_id"], {})[item["user_id"]] = {
                "muted": bool(item.get("muted")), "notify": item.get("notify")}
        return state

    def remember_message(self, message_id: int, chat_id: str, limit: int | None = None):
        """Note a new message's chat, forgetting those older than RECENT_SECONDS (ids are
        sent in time order, so the oldest entries are at the front)."""
        recent = self.recent_chat_of
        recent[message_id] = chat_id
        if len(recent) > (limit or self._recent_limit):
            recent.popitem(last=False)
        forget_older(recent, id_millis(message_id) - RECENT_SECONDS * 1000, lambda key, _chat: key)

    def chat_of(self, state: TeamState, message_id: int) -> str | None:
        """The chat of a message this process has in memory: a recent one, or one in a
        loaded tail of the team (a scan of dict lookups, cheaper than a search); None if
        neither (the caller then searches the engine by id)."""
        chat_id = self.recent_chat_of.get(message_id)
        if chat_id is not None:
            return chat_id
        for chat_id, tail in state.tails.items():
            if message_id in tail.by_id or message_id in tail.roots:
                return chat_id
        return None

    def tails(self, state: TeamState, chat_ids) -> dict[str, Tail]:
        """The tails of these chats, loading every missing one in a single _msearch."""
        for cid in chat_ids:
            self.budget.touch_tail(state.id, cid)
        missing = [cid for cid in chat_ids if cid not in state.tails]
        for cid in missing:
            state.tails[cid] = Tail(self._tail_size)
        if missing:
            try:
                loaded = message_store.tails(self._engine, missing, self._tail_size)
            except BaseException:
                for cid in missing:  # let the next caller retry the load
                    state.tails.pop(cid, None).loaded.set()
                raise
            for cid in missing:
                state.tails[cid].fill(loaded[cid])   # found by id through chat_of
        if missing or self.budget.due():
            self.budget.enforce(self._teams)
        result = {}
        for cid in chat_ids:
            tail = state.tails.get(cid) or self._reload(state, cid)
            tail.loaded.wait()
            if state.tails.get(cid) is not tail:  # its load failed in another greenlet
                raise Unavailable("could not load this chat's history; retry later")
            result[cid] = tail
        return result

    def _reload(self, state: TeamState, chat_id: str) -> Tail:
        """A tail the budget dropped between its load and this read (rare): load again."""
        return self.tails(state, [chat_id])[chat_id]

    def loaded_ids(self) -> list[str]:
        """The teams this process has loaded (behind the proxy: the teams it owns)."""
        return list(self._teams)

    # -- sizes, for /metrics -----------------------------------------------------------
    def team_count(self) -> int:
        return len(self._teams)

    def tail_count(self) -> int:
        return sum(len(s.tails) for s in list(self._teams.values()))

    def cached_messages(self) -> int:
        return sum(len(t.messages) for s in list(self._teams.values()) for t in list(s.tails.values()))

    def estimated_bytes(self) -> int:
        return estimate(dict(self._teams))

    def tail(self, state: TeamState, chat_id: str) -> Tail:
        return self.tails(state, [chat_id])[chat_id]

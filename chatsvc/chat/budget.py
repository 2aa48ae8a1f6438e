"""The memory budget of the team states and chat tails (CHATSVC_CACHE_MB).

State is a cache of the engine (docs/architecture.md), so it may be forgotten and loaded
again at any time. :class:`CacheBudget` keeps the use order of tails and teams and, when
the estimated size is over the budget, forgets the least recently used: first tails, then
whole teams not used for a minute. Guards keep read-your-writes: a tail whose newest
message is younger than ``UNREFRESHED_MS`` is kept (that message may not be searchable
yet, and a reload searches); so is one read in the last ``TAIL_MIN_IDLE`` seconds (the
request that read it may append to it), and a team used in the last ``TEAM_MIN_IDLE``
seconds (a use case may still hold it).

Sizes are estimates (bytes per cached message, per user/chat/read entry), measured on
this code's own documents; see docs/hardening.md for how they were measured.
"""
import time
from collections import OrderedDict

from chatsvc.ids import id_millis

MESSAGE_BYTES = 2000      # one cached message (tracemalloc: 1.3 KB at a 108-character body), rounded up
ENTRY_BYTES = 900         # one user, chat or read marker of a team state
TAIL_MIN_IDLE = 0.5       # s: a tail just read may be in use by the request that read it
UNREFRESHED_MS = 3000     # a tail with a message newer than this is kept (refresh is 1 s)
TEAM_MIN_IDLE = 60.0
CHECK_EVERY = 256         # uses between two checks (a check walks the tails)


class CacheBudget:
    def __init__(self, limit_bytes: float, clock=time.monotonic):
        self.limit = limit_bytes
        self.tails: OrderedDict[tuple[str, str], float] = OrderedDict()   # (team, chat) -> last use
        self.teams: OrderedDict[str, float] = OrderedDict()                # team -> last use
        self.evicted_tails = 0
        self.evicted_teams = 0
        self._uses = 0
        self._clock = clock

    def touch_team(self, team_id: str):
        self.teams[team_id] = self._clock()
        self.teams.move_to_end(team_id)

    def touch_tail(self, team_id: str, chat_id: str):
        key = (team_id, chat_id)
        self.tails[key] = self._clock()
        self.tails.move_to_end(key)

    def due(self) -> bool:
        """True once every CHECK_EVERY uses (and the caller then runs :meth:`enforce`)."""
        self._uses += 1
        return self._uses % CHECK_EVERY == 0

    def forget_team(self, team_id: str):
        self.teams.pop(team_id, None)
        for key in [k for k in self.tails if k[0] == team_id]:
            del self.tails[key]

    def enforce(self, states: dict):
        """Evict from ``states`` (team id -> TeamState) until the estimate fits; the
        estimate after."""
        used = estimate(states)
        if used > self.limit:
            used = self._evict_tails(states, used)
        if used > self.limit:
            used = self._evict_teams(states, used)
        return used

    def _evict_tails(self, states: dict, used: int) -> int:
        now = self._clock()
        victims = []
        for key, last in self.tails.items():
            if used <= self.limit or now - last < TAIL_MIN_IDLE:
                break   # fits, or everything from here on was used even more recently
            state = states.get(key[0])
            tail = state.tails.get(key[1]) if state is not None else None
            if tail is not None and not _evictable(tail):
                continue
            victims.append((key, state))
            if tail is not None:
                used -= (len(tail.messages) + len(tail.roots)) * MESSAGE_BYTES
        for key, state in victims:
            del self.tails[key]
            if state is not None and state.tails.pop(key[1], None) is not None:
                self.evicted_tails += 1
        return used

    def _evict_teams(self, states: dict, used: int) -> int:
        now = self._clock()
        victims = []
        for team_id, last in self.teams.items():
            if used <= self.limit or now - last < TEAM_MIN_IDLE:
                break
            victims.append(team_id)
            if team_id in states:
                used -= estimate({team_id: states[team_id]})
        for team_id in victims:
            if states.pop(team_id, None) is not None:
                self.evicted_teams += 1
            self.forget_team(team_id)
        return used


def _evictable(tail) -> bool:
    """Loaded, and its newest message old enough to be searchable: a reload (a search)
    finds everything it held. Message ids carry their time (chatsvc.ids)."""
    if not tail.loaded.is_set():
        return False
    if not tail.messages:
        return True
    return time.time() * 1000 - id_millis(tail.messages[-1]["id"]) > UNREFRESHED_MS


def estimate(states: dict) -> int:
    """Estimated bytes of these team states with their tails."""
    total = 0
    for state in states.values():
        entries = len(state.users) + len(state.chats) + sum(len(r) for r in state.reads.values())
        messages = sum(len(t.messages) + len(t.roots) for t in state.tails.values())
        total += entries * ENTRY_BYTES + messages * MESSAGE_BYTES
    return total

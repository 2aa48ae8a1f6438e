"""The memory budget of the team states and chat tails (CHATSVC_CACHE_MB).

State is a cache of the engine (docs/architecture.md), so it may be forgotten and loaded
again at any time. :class:`CacheBudget` keeps the use order of tails and teams and, when
the estimated size is over the budget, forgets the least recently used: first tails, then
whole teams with no tail left. Two guards keep read-your-writes: a tail used in the last
``TAIL_MIN_IDLE`` seconds is kept (its newest messages may not be searchable yet, and a
reload searches), and a team used in the last ``TEAM_MIN_IDLE`` seconds is kept (a use
case may still hold it).

Sizes are estimates (bytes per cached message, per user/chat/read entry), measured on
this code's own documents; see docs/hardening.md for how they were measured.
"""
import time
from collections import OrderedDict

MESSAGE_BYTES = 2300      # one cached message dict and its index entries, body ~100 chars
ENTRY_BYTES = 900         # one user, chat or read marker of a team state
TAIL_MIN_IDLE = 3.0
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
        """Evict from ``states`` (team id -> TeamState) until the estimate fits."""
        used = estimate(states)
        now = self._clock()
        while used > self.limit and self.tails:
            key, last = next(iter(self.tails.items()))
            if now - last < TAIL_MIN_IDLE:
                break   # everything after it is newer still
            del self.tails[key]
            state = states.get(key[0])
            tail = state.tails.get(key[1]) if state is not None else None
            if tail is not None and tail.loaded.is_set():
                del state.tails[key[1]]
                used -= len(tail.messages) * MESSAGE_BYTES
                self.evicted_tails += 1
        while used > self.limit and self.teams:
            team_id, last = next(iter(self.teams.items()))
            if now - last < TEAM_MIN_IDLE:
                break
            state = states.pop(team_id, None)
            self.forget_team(team_id)
            if state is not None:
                used -= estimate({team_id: state})
                self.evicted_teams += 1
        return used


def estimate(states: dict) -> int:
    """Estimated bytes of these team states with their tails."""
    total = 0
    for state in states.values():
        entries = len(state.users) + len(state.chats) + sum(len(r) for r in state.reads.values())
        messages = sum(len(t.messages) for t in state.tails.values())
        total += entries * ENTRY_BYTES + messages * MESSAGE_BYTES
    return total

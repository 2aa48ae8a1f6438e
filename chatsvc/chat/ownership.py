"""Exactly one instance serves a team (issue 18; DESIGN.md "Presence and scale-out").

Behind the proxy every instance asks :meth:`Ownership.ensure` before it uses a team's
state (chat/state.py calls it). The answer comes from memory while this instance holds
the team's lease (store/leases.py); otherwise it takes the lease:

- nobody ever held it: create it;
- its owner is this instance: renew it;
- another instance holds it and the request was routed here by the proxy (chatsvc.routing):
  write ``wanted_by`` = this instance, and wait. The owner sees that at its next renewal
  and hands the team over (below). If the owner is dead, the lease's seq_no stops moving:
  unchanged for a whole lease lifetime, measured on this instance's own clock (no clock
  needs to agree with another), it is taken over;
- another instance holds it and the request was not routed by this team: Unavailable at
  once (the proxy sends this team elsewhere).

An instance serves a team only until ``lease_seconds * 0.8`` after it sent its last
successful write of the lease; a taker waits at least ``lease_seconds`` after it first saw
that write, so their times never overlap.

Handing over: stop serving the team (new requests get Unavailable), let what already
passed the check reach the bulk writer, write a handover record through the bulk writer
(it is stored after every write submitted before it: the in-flight sends are stored and
acknowledged, or failed), then ``on_release`` (close the team's sockets, drop its state),
then write the lease to the new owner.
"""
import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import gevent
from gevent.event import Event

from chatsvc import routing
from chatsvc.errors import Unavailable
from chatsvc.store import leases
from chatsvc.store.leases import Lease

log = logging.getLogger(__name__)
VALID_SHARE = 0.8           # of lease_seconds after the write was sent
SETTLE_SECONDS = 0.2        # for requests past the check to reach the bulk writer
POLL_SECONDS = 0.2          # while waiting for a lease
OBSERVED_LIMIT = 10_000     # other instances' leases watched at once


@dataclass
class _Held:
    lease: Lease
    valid_until: float
    releasing: bool = False


class Ownership:
    def __init__(self, engine, bulk, name: str, lease_seconds: float, wait_seconds: float):
        self.engine = engine
        self.bulk = bulk
        self.name = name or f"instance-{uuid.uuid4().hex[:8]}"
        self.name += f"/{uuid.uuid4().hex[:6]}"   # one life of the process: a restart must take over anew
        self.ttl = lease_seconds
        self.wait = wait_seconds
        self.on_release = lambda team_id: None     # set by create_app: close sockets, drop state
        self.on_renewed = lambda team_ids: None    # set by create_app: the directory poll
        self.on_acquired = lambda team_id: None    # set by create_app: forget the team's cached tokens
        self._held: dict[str, _Held] = {}
        self._acquiring: dict[str, Event] = {}
        self._observed: OrderedDict[str, tuple[tuple[int, int], float]] = OrderedDict()
        self._loop = None

    # -- the check on every use of a team ---------------------------------------------
    def serves(self, team_id: str) -> bool:
        held = self._held.get(team_id)
        return held is not None and not held.releasing and time.monotonic() < held.valid_until

    def held_teams(self) -> list[str]:
        return [t for t in self._held if self.serves(t)]

    def ensure(self, team_id: str):
        """Return once this instance may serve the team; Unavailable if it may not."""
        if self.serves(team_id):
            return
        held = self._held.get(team_id)
        if held is not None and held.releasing:
            raise Unavailable("this team is moving to another instance; reconnect and retry")
        pending = self._acquiring.get(team_id)
        if pending is not None:
            pending.wait(self.wait + 1)
        else:
            self._acquiring[team_id] = Event()
            try:
                self._acquire(team_id, routing.routed_team.get() == team_id)
            finally:
                self._acquiring.pop(team_id).set()
        if not self.serves(team_id):
            raise Unavailable("this team is served by another instance; retry")

    def _acquire(self, team_id: str, routed: bool):
        deadline = time.monotonic() + self.wait
        while True:
            sent = time.monotonic()
            lease = leases.read(self.engine, team_id)
            if lease is None:
                got = leases.create(self.engine, team_id, self.name)
            elif lease.owner == self.name:
                got = leases.write(self.engine, lease, self.name, None if routed else lease.wanted_by)
            else:
                if team_id in self._held:   # it was ours and someone took it: our state is stale
                    self._lost(team_id)
                got = self._from_other(lease, routed, sent)
            if got is not None:
                if team_id not in self._held:
                    self.on_acquired(team_id)
                self._held[team_id] = _Held(got, sent + self.ttl * VALID_SHARE)
                self._observed.pop(team_id, None)
                log.info("serving team %s (lease %s)", team_id, self.name)
                return
            if time.monotonic() > deadline:
                raise Unavailable("this team's instance is changing; retry in a few seconds")
            gevent.sleep(POLL_SECONDS)

    def _from_other(self, lease: Lease, routed: bool, now: float) -> Lease | None:
        """Ask for, or take over, a team another instance holds (None: not yet)."""
        version = (lease.seq_no, lease.primary_term)
        seen = self._observed.get(lease.team_id)
        if seen is None or seen[0] != version:
            if seen is not None and not routed:   # its owner is alive and the proxy sends it there
                raise Unavailable("this team is served by another instance")
            self._watch(lease.team_id, version, now)
            if routed and lease.wanted_by != self.name:
                asked = leases.write(self.engine, lease, lease.owner, self.name)
                if asked is not None:
                    self._watch(lease.team_id, (asked.seq_no, asked.primary_term), now)
            return None
        if now - seen[1] >= self.ttl:   # not renewed for a whole lifetime: its owner is gone
            log.warning("taking over team %s from %s (lease expired)", lease.team_id, lease.owner)
            return leases.write(self.engine, lease, self.name)
        return None

    def _watch(self, team_id, version, now):
        self._observed[team_id] = (version, now)
        self._observed.move_to_end(team_id)
        while len(self._observed) > OBSERVED_LIMIT:
            self._observed.popitem(last=False)

    # -- renewal and handover ----------------------------------------------------------
    def start(self):
        if self._loop is None:
            self._loop = gevent.spawn(self._renew_forever)

    def _renew_forever(self):
        while True:
            gevent.sleep(self.ttl / 3)
            try:
                self.renew()
            except Exception:   # the engine may be away for a moment; the next tick retries
                log.exception("team lease renewal failed")

    def renew(self):
        """Renew every lease held (one _bulk); hand over or drop the ones that changed."""
        held = {t: h for t, h in self._held.items() if not h.releasing}
        sent = time.monotonic()
        for team_id, new in leases.renew_all(self.engine, [h.lease for h in held.values()]).items():
            if new is not None:
                held[team_id].lease = new
                held[team_id].valid_until = sent + self.ttl * VALID_SHARE
            else:
                self._changed(team_id)
        self.on_renewed(self.held_teams())

    def _changed(self, team_id: str):
        lease = leases.read(self.engine, team_id)
        if lease is None or lease.owner != self.name:
            self._lost(team_id)
        elif lease.wanted_by and lease.wanted_by != self.name:
            gevent.spawn(self._hand_over, team_id, lease.wanted_by)
        else:   # rewritten by ourselves (a request renewed it meanwhile)
            self._held[team_id].lease = lease

    def _lost(self, team_id: str):
        log.warning("team %s was taken by another instance", team_id)
        self._held.pop(team_id, None)
        self.on_release(team_id)

    def _hand_over(self, team_id: str, to: str):
        held = self._held.get(team_id)
        if held is None or held.releasing:
            return
        held.releasing = True
        log.info("handing team %s over to %s", team_id, to)
        try:
            gevent.sleep(SETTLE_SECONDS)
            try:
                self.bulk.write([leases.handover_record(self.engine, team_id, self.name, to)])
            except Unavailable:
                pass   # in-flight writes failed as well: nothing was acknowledged that is not stored
            self.on_release(team_id)
            self._transfer(team_id, to)
        finally:
            self._held.pop(team_id, None)

    def _transfer(self, team_id: str, to: str):
        for _ in range(5):
            lease = leases.read(self.engine, team_id)
            if lease is None or lease.owner != self.name:
                return
            if leases.write(self.engine, lease, lease.wanted_by or to) is not None:
                return
        # Still ours but unwritable: it expires by itself and the asker takes it over.

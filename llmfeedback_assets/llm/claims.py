"""Claims: which gateway run is sending which request, visible to every process that uses the warehouse.

A run claims the keys it is about to send in one short transaction (`llm_claims`: INSERT OR IGNORE, then it
reads back which keys are its own) and keeps a heartbeat in `llm_claim_owners`. Keys another live run holds
are not sent: this run waits for their answers in the journal and counts them as cache hits. The journal
releases a key's claim in the transaction that writes its answer, and a run drops all its claims when it
ends. A claimant is dead when its process is gone (same host: pid and kernel start time) or its heartbeat
is older than the lease (any host); the next run that wants its keys deletes its claims and takes them over.
Requests a dead claimant had on the wire were paid for and are sent again: those, and nothing else, can be
paid for twice.

`RunGuard` stops a run early: when the process that started a step is gone (an orphaned Dagster step
worker) or another run took this run's claims over (it stalled past the lease). It closes a gate in front of
the providers: nothing new is sent, requests already on the wire may finish (for up to `DRAIN_S`) and are
journaled, then the run raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pandas as pd

from ..warehouse import Warehouse
from .journal import HOST, Journal, process_gone, process_start_time
from .types import ChatRequest

log = logging.getLogger("llmfeedback.gateway.claims")

LEASE_S = 30.0  # a claimant whose heartbeat is older than this is taken to be dead
DRAIN_S = 10.0  # how long a stopping run waits for the answers of requests already sent
MAX_HEARTBEAT_S = 5.0

# DuckDB refuses a read-only and a read-write connection to one file in one process at the same time, so the
# warehouse chores of every gateway run of this process (flushes, heartbeats, claims, polls) take turns.
_DB_LOCK = threading.RLock()


class RunOrphaned(RuntimeError):
    """The process that started this step is gone (killed): the step stopped sending model requests."""


class ClaimsLost(RuntimeError):
    """Another run took this run's claims over (this run stalled longer than the lease)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Holder:
    """The run holding a claim."""

    owner: str
    host: str | None
    pid: int | None
    label: str | None
    heartbeat_at: dt.datetime | None

    def describe(self) -> str:
        age = ""
        if self.heartbeat_at is not None:
            age = f", heartbeat {(_now() - self.heartbeat_at).total_seconds():.0f}s ago"
        return f"{self.label or 'another gateway run'} (pid {self.pid} on {self.host}{age})"


class Claims:
    """This gateway run's claims. Every method is one short transaction (or read) on the warehouse, under
    the process-wide `lock`."""

    def __init__(self, warehouse: Warehouse, lease_s: float = LEASE_S, label: str = ""):
        if lease_s <= 0:
            raise ValueError("the claim lease must be positive")
        self.warehouse = warehouse
        self.lease_s = float(lease_s)
        self.label = label
        self.pid = os.getpid()
        self.proc_start = process_start_time(self.pid)
        self.owner = f"{HOST}:{self.pid}:{uuid.uuid4().hex[:10]}"
        self.heartbeat_every_s = max(0.2, min(MAX_HEARTBEAT_S, self.lease_s / 4))
        self.lock = _DB_LOCK
        self.registered = False
        self.lost = False
        self._last_beat = time.monotonic()

    # -- liveness ----------------------------------------------------------------------------------------
    def _dead(self, host, pid, start, heartbeat_at, now: dt.datetime) -> bool:
        if heartbeat_at is None or heartbeat_at < now - dt.timedelta(seconds=self.lease_s):
            return True
        return host == HOST and pid is not None and process_gone(int(pid), start or "0")

    def _beat(self, con, now: dt.datetime) -> bool:
        """Refresh (or first write) this run's owner row inside a write; False when the row is gone (another
        run found this one dead and took its claims). The caller applies the outcome with `after_beat` once
        the write committed: a lake transaction may run more than once."""
        if self.registered:
            # a read, then the update (DuckLake has no UPDATE ... RETURNING): a run that deletes this row at
            # the same time makes one of the two commits conflict, and that write runs again
            if not con.execute("SELECT 1 FROM llm_claim_owners WHERE owner = ?", [self.owner]).fetchall():
                return False
            con.execute("UPDATE llm_claim_owners SET heartbeat_at = ? WHERE owner = ?", [now, self.owner])
            return True
        con.execute("DELETE FROM llm_claim_owners WHERE owner = ?", [self.owner])
        con.execute("INSERT INTO llm_claim_owners (owner, host, pid, proc_start, label, started_at, "
                    "heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [self.owner, HOST, self.pid, self.proc_start, self.label, now, now])
        return True

    def after_beat(self, alive: bool) -> None:
        if self.registered and not alive:
            self.lost = True
        self.registered = True
        self._last_beat = time.monotonic()

    def beat_due(self) -> bool:
        due = time.monotonic() - self._last_beat >= self.heartbeat_every_s
        return self.registered and not self.lost and due

    def heartbeat(self) -> None:
        with self.lock:
            if self.registered and not self.lost:
                self.after_beat(bool(self.warehouse.write(lambda con: self._beat(con, _now()))))

    def _reap(self, con, now: dt.datetime) -> list[Holder]:
        """Delete the claims and owner rows of dead runs; return who they were."""
        rows = con.execute("SELECT owner, host, pid, proc_start, label, heartbeat_at FROM llm_claim_owners "
                           "WHERE owner <> ?", [self.owner]).fetchall()
        dead = [Holder(o, h, p, label, hb) for o, h, p, start, label, hb in rows
                if self._dead(h, p, start, hb, now)]
        if dead:
            ids = [d.owner for d in dead]
            con.execute("DELETE FROM llm_claims WHERE list_contains(?, owner)", [ids])
            con.execute("DELETE FROM llm_claim_owners WHERE list_contains(?, owner)", [ids])
        con.execute("DELETE FROM llm_claims WHERE owner NOT IN (SELECT owner FROM llm_claim_owners)")
        return dead

    # -- claims ------------------------------------------------------------------------------------------
    def claim(self, keys: list[str]) -> tuple[set[str], dict[str, Holder]]:
        """Claim every key that is free (or held by a dead run) and has no answer in the table. Returns the
        keys this run holds now and {key: holder} for keys a live run holds; keys in neither are answered
        already.

        On the file one transaction decides (the key is the table's primary key). A lake has no keys and
        snapshot isolation, so two runs may both add a claim for one key; DuckLake numbers rows in commit
        order, so the claim with the lowest rowid wins, every run reads that after its commit, and a loser
        drops its row. A run that read "mine" keeps it: later claims get higher rowids."""
        keys = list(dict.fromkeys(keys))
        if not keys:
            return set(), {}
        frame = pd.DataFrame({"request_key": keys})
        verb = "INSERT OR IGNORE" if self.warehouse.lake is None else "INSERT"

        def body(con):
            now = _now()
            alive = self._beat(con, now)
            dead = self._reap(con, now) if alive else []
            if alive:
                con.register("_keys", frame)
                con.execute(f"{verb} INTO llm_claims (request_key, owner, claimed_at) "
                            "SELECT request_key, ?, ? FROM _keys WHERE request_key NOT IN "
                            "(SELECT request_key FROM llm_journal WHERE status = 'ok') "
                            "AND request_key NOT IN (SELECT request_key FROM llm_claims)", [self.owner, now])
                con.unregister("_keys")
            # on the file the transaction is the whole story (one writer at a time): read who holds what in
            # it, so a claim is one turn at the file's lock; a lake's winners are read after the commit
            return alive, dead, self._holders(frame, con) if alive and self.warehouse.lake is None else None

        with self.lock:
            alive, dead, holders = self.warehouse.write(body)
            self.after_beat(alive)
            if self.lost:
                raise ClaimsLost(self.lost_message())
            for d in dead:
                log.warning("claims of %s released: its process is gone or its heartbeat is older than the "
                            "%.0fs lease", d.describe(), self.lease_s)
            held, mine_too = holders or self._holders(frame)
            lost_races = [k for k in mine_too if held.get(k, (None,))[0] != self.owner]
            if lost_races:
                self.warehouse.execute("DELETE FROM llm_claims WHERE owner = ? AND "
                                       "list_contains(?, request_key)", [self.owner, lost_races])
        mine = {k for k, (owner, *_) in held.items() if owner == self.owner}
        theirs = {k: Holder(owner, host, pid, label, hb)
                  for k, (owner, host, pid, _, label, hb) in held.items() if owner != self.owner}
        return mine, theirs

    def _holders(self, frame: pd.DataFrame, con=None) -> tuple[dict[str, tuple], set[str]]:
        """{key: (owner, host, pid, proc_start, label, heartbeat_at)} of the winning claim (the lowest
        rowid) of each key without an answer, and the keys where this run has a claim row at all."""
        sql = ("SELECT c.request_key, c.owner, o.host, o.pid, o.proc_start, o.label, o.heartbeat_at FROM "
               "(SELECT request_key, arg_min(owner, rowid) AS owner FROM llm_claims "
               " WHERE request_key IN (SELECT request_key FROM _keys) AND request_key NOT IN "
               " (SELECT request_key FROM llm_journal WHERE status = 'ok') GROUP BY request_key) c "
               "LEFT JOIN llm_claim_owners o USING (owner)")
        mine_sql = "SELECT DISTINCT request_key FROM llm_claims WHERE owner = ? AND request_key IN " \
                   "(SELECT request_key FROM _keys)"

        def read(c):
            c.register("_keys", frame)
            try:
                held = {k: tuple(rest) for k, *rest in c.execute(sql).fetchall()}
                mine = {k for (k,) in c.execute(mine_sql, [self.owner]).fetchall()}
            finally:
                c.unregister("_keys")
            return held, mine

        if con is not None:
            return read(con)
        self.warehouse.ensure_schema()
        with self.warehouse.connect(read_only=True) as c:
            return read(c)

    def poll(self, keys: list[str]) -> tuple[dict[str, dict], set[str], dict[str, Holder]]:
        """One read-only look: ok answers in the table, keys free to claim (no claim, or a dead holder), and
        {key: live holder} for the rest."""
        frame = pd.DataFrame({"request_key": list(dict.fromkeys(keys))})
        with self.lock:
            self.warehouse.ensure_schema()
            with self.warehouse.connect(read_only=True) as con:
                con.execute("BEGIN TRANSACTION")  # answers and claims from one snapshot
                try:
                    con.register("_keys", frame)
                    answered = con.execute("SELECT j.* FROM llm_journal j JOIN _keys USING (request_key) "
                                           "WHERE j.status = 'ok'").df()
                    con.unregister("_keys")
                    held, _ = self._holders(frame, con)
                finally:
                    con.execute("ROLLBACK")
        rows = {r["request_key"]: r for r in answered.to_dict("records")}
        now = _now()
        free: set[str] = set()
        holders: dict[str, Holder] = {}
        for key in frame["request_key"]:
            owner, host, pid, start, label, hb = held.get(key, (None,) * 6)
            if key in rows:
                continue
            if owner is None or host is None or self._dead(host, pid, start, hb, now):
                free.add(key)
            elif owner != self.owner:
                holders[key] = Holder(owner, host, pid, label, hb)
        return rows, free, holders

    def lookup(self, journal: Journal, keys: list[str]) -> dict[str, dict]:
        """`journal.lookup` under this run's lock, after merging the spools of dead processes (a claimant
        killed before it merged its answers) into the table."""
        with self.lock:
            journal.recover_orphans()
            return journal.lookup(keys)

    def on_journal_write(self, con, table: str) -> bool:
        """Called by the journal inside the transaction that writes answers (`table` holds them): release
        this run's claims of those keys and refresh its heartbeat (what `_beat` returns)."""
        if self.registered:
            con.execute(f"DELETE FROM llm_claims WHERE owner = ? AND request_key IN "
                        f"(SELECT request_key FROM {table})", [self.owner])
            return self._beat(con, _now())
        return True

    def release_all(self) -> None:
        """Drop every claim of this run and its owner row (the run is over)."""
        if not self.registered:
            return
        def body(con):
            con.execute("DELETE FROM llm_claims WHERE owner = ?", [self.owner])
            con.execute("DELETE FROM llm_claim_owners WHERE owner = ?", [self.owner])

        with self.lock:
            self.warehouse.write(body)
        self.registered = False

    def finish(self, journal: Journal) -> None:
        """End of the run: close the journal (its last flush), then drop every claim, whatever happened."""
        with self.lock:
            try:
                journal.close()
            finally:
                try:
                    self.release_all()
                except Exception as exc:  # noqa: BLE001 - they lapse with this process anyway
                    log.warning("could not release this run's claims: %s", exc)

    def lost_message(self) -> str:
        return (f"another run took over this run's model requests: its heartbeat was older than the "
                f"{self.lease_s:.0f}s claim lease (the process stalled or could not write the warehouse). "
                "Answers so far are journaled; rerun to finish.")


async def wait_for_claimed(claims: Claims, journal: Journal, waiting: dict[str, ChatRequest],
                           holders: dict[str, Holder], *, answered: Callable[[dict[str, dict]], None],
                           send: Callable[[dict[str, ChatRequest]], Awaitable[None]],
                           poll_s: float = 1.0) -> None:
    """Wait for the answers to keys other live runs are sending; send (take over) those whose claimant
    died or let go without an ok answer. `answered` gets journal rows, `send` the requests taken over."""
    remaining = dict(waiting)
    who = {h.owner: h for k, h in holders.items() if k in remaining}
    if remaining:
        log.info("%d request(s) are being sent by %s: waiting for their answers instead of paying twice",
                 len(remaining), "; ".join(h.describe() for h in who.values()) or "another run")
    while remaining:
        await asyncio.sleep(poll_s)
        rows, free, _ = await asyncio.to_thread(claims.poll, list(remaining))
        _take_answers(rows, remaining, answered)
        if not free:
            continue
        mine, _ = await asyncio.to_thread(claims.claim, sorted(free))
        if not mine:
            continue
        # A claimant that died may have spooled answers it never merged: those are hits, not work.
        _take_answers(await asyncio.to_thread(claims.lookup, journal, sorted(mine)), remaining, answered)
        take = {k: remaining.pop(k) for k in sorted(mine) if k in remaining}
        if take:
            log.warning("taking over %d request(s): their claimant stopped before answering them", len(take))
            await send(take)


def _take_answers(rows: dict[str, dict], remaining: dict[str, ChatRequest],
                  answered: Callable[[dict[str, dict]], None]) -> None:
    rows = {k: r for k, r in rows.items() if k in remaining}
    if rows:
        answered(rows)
        for k in rows:
            remaining.pop(k, None)


class _GatedProvider:
    """A provider behind the run's gate: once the gate closes, new sends wait until the run is cancelled."""

    def __init__(self, inner, gate: RunGuard):
        self._inner, self._gate = inner, gate

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    async def _through(self, call: Callable[[], Awaitable]):
        self._gate.watch()  # a cheap getppid() per send: nothing leaves after the parent died
        if self._gate.reason is not None:
            await asyncio.Event().wait()  # never set: the stopping run cancels this task
        self._gate.in_flight += 1
        try:
            return await call()
        finally:
            self._gate.in_flight -= 1

    async def complete(self, *args, **kwargs):
        return await self._through(lambda: self._inner.complete(*args, **kwargs))

    async def submit_batch(self, *args, **kwargs):
        return await self._through(lambda: self._inner.submit_batch(*args, **kwargs))


class RunGuard:
    """Stops one gateway run early (see the module docstring) and does its periodic warehouse chores.

    parent_pid: the process that owns this one (a Dagster run worker); when this process's parent is no
      longer it, that process died and the run stops with RunOrphaned. None: never (a plain script re-parented
      under nohup keeps going)."""

    def __init__(self, parent_pid: int | None = None, claims: Claims | None = None, drain_s: float = DRAIN_S):
        self.parent_pid = parent_pid
        self.claims = claims
        self.drain_s = drain_s
        self.reason: BaseException | None = None
        self.in_flight = 0
        self._deadline = 0.0

    def wrap(self, provider):
        return _GatedProvider(provider, self)

    @property
    def stopping(self) -> bool:
        return self.reason is not None

    def watch(self) -> None:
        """Close the gate if the run must stop."""
        if self.reason is None:
            if self.parent_pid is not None and os.getppid() != self.parent_pid:
                self._stop(RunOrphaned(
                    f"the process that started this step (pid {self.parent_pid}) is gone: this step stopped "
                    "sending model requests. Answers so far are journaled; a rerun resumes from them."))
            elif self.claims is not None and self.claims.lost:
                self._stop(ClaimsLost(self.claims.lost_message()))

    def check(self) -> None:
        """Close the gate if the run must stop; raise the reason once nothing sent is still unanswered (or
        the drain time is over)."""
        self.watch()
        if self.reason is not None and (self.in_flight == 0 or time.monotonic() >= self._deadline):
            raise self.reason

    def _stop(self, reason: BaseException) -> None:
        self.reason = reason
        self._deadline = time.monotonic() + self.drain_s
        log.error("%s (%d request(s) on the wire may finish first)", reason, self.in_flight)

    def chores_due(self, journal: Journal) -> bool:
        return journal.due() or (self.claims is not None and self.claims.beat_due())

    def chores(self, journal: Journal) -> None:
        """Merge the journal spool (which also releases answered claims and beats) and keep the heartbeat;
        run in a thread. Failures are logged: rows stay in the spool, and a late heartbeat is retried."""
        with self.claims.lock if self.claims is not None else contextlib.nullcontext():
            if journal.due():
                try:
                    journal.flush()
                except Exception as exc:  # noqa: BLE001 - rows stay in the spool; close() tries again
                    log.warning("journal flush postponed: %s", exc)
            if self.claims is not None and self.claims.beat_due():
                try:
                    self.claims.heartbeat()
                except Exception as exc:  # noqa: BLE001 - retried at the next tick
                    log.warning("claims heartbeat postponed: %s", exc)

"""What an admin controls while qbedi runs: pause / resume a source or a company, sync now, refresh
QuickBooks' lists; and the sync history those and the running service write.

Invariants:

- A pause is a row in ``pause``; nothing else records it. While it exists, the daemon fetches nothing
  from that source and the Web Connector is given nothing for that company (``authenticate`` answers
  "none"); every stored record stays as it is, so resuming carries on where it stopped.
- A person's "sync now" is a ``sync_request`` row any process may write (the CLI, the web page); the
  running ``qbedi run`` takes each open row once (:func:`take_sync_requests`) and marks it done.
- Every pause, resume, request, poll and Web Connector session outcome is one ``sync_event`` row: the
  history the dashboard and ``qbedi status`` show (``kind`` is an :class:`Activity`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from .status import Activity, Scope, SyncKind
from .store import CompanyState, Pause, Store, SyncEvent, SyncRequest, utcnow

HISTORY_KEEP = 5000  # sync_event rows kept per scope+name (older ones are deleted as new ones come)


@dataclass(frozen=True)
class PauseInfo:
    scope: str
    name: str
    paused_at: datetime
    by: str
    reason: str

    def as_dict(self) -> dict:
        return {"scope": self.scope, "name": self.name, "paused_at": self.paused_at.isoformat(timespec="seconds"),
                "by": self.by, "reason": self.reason}


def _scope(scope: str) -> Scope:
    try:
        return Scope(scope)
    except ValueError:
        raise ValueError(f"pause a source or a company, not {scope!r}") from None


def record(s: Session, scope: str, name: str, kind: Activity, message: str = "", **detail) -> None:
    """One entry in the sync history (in the caller's unit of work)."""
    s.add(SyncEvent(at=utcnow(), scope=_scope(scope), name=name[:260], kind=kind, message=message[:4000],
                    detail={k: (v if isinstance(v, (int, float, bool, type(None))) else str(v))
                            for k, v in detail.items()}))


def record_event(store: Store, scope: str, name: str, kind: Activity, message: str = "", **detail) -> None:
    """:func:`record` in a unit of work of its own."""
    with store.session() as s:
        record(s, scope, name, kind, message, **detail)


def pause(store: Store, scope: str, name: str, *, by: str, reason: str = "") -> bool:
    """Pause a source or a company (False: it was paused already; the first pause and its reason stay)."""
    scope = _scope(scope)
    with store.session() as s:
        if s.get(Pause, (scope, name)) is not None:
            return False
        s.add(Pause(scope=scope, name=name, paused_at=utcnow(), by=by, reason=reason.strip()))
        record(s, scope, name, Activity.PAUSED, reason.strip() or "paused", by=by)
    return True


def resume(store: Store, scope: str, name: str, *, by: str) -> bool:
    """Resume a paused source or company (False: it was not paused)."""
    scope = _scope(scope)
    with store.session() as s:
        gone = s.execute(delete(Pause).where(Pause.scope == scope, Pause.name == name)).rowcount
        if gone:
            record(s, scope, name, Activity.RESUMED, "resumed", by=by)
    return bool(gone)


def pauses(store: Store) -> dict[tuple[str, str], PauseInfo]:
    """Every pause, by (scope, name)."""
    with store.session() as s:
        return {(p.scope, p.name): PauseInfo(p.scope, p.name, p.paused_at, p.by, p.reason)
                for p in s.scalars(select(Pause))}


def is_paused(s: Session, scope: str, name: str) -> bool:
    """In the caller's unit of work (delivery asks this at every Web Connector login)."""
    return s.get(Pause, (_scope(scope), name)) is not None


def request_sync(store: Store, kind: SyncKind, target: str | None = None, *, by: str) -> int:
    """A person asks for a poll (``target``: one source, None: every source) or for QuickBooks' lists to be
    re-read (``target``: one company, None: every company). Returns the request's id."""
    kind = SyncKind(kind)
    with store.session() as s:
        rq = SyncRequest(kind=kind, target=target, by=by, requested_at=utcnow())
        s.add(rq)
        s.flush()
        what = ("poll " + (f"source {target}" if target else "every source")) if kind == SyncKind.POLL else \
            ("refresh QuickBooks lists for " + (target or "every company"))
        scope = Scope.SOURCE if kind == SyncKind.POLL else Scope.COMPANY
        record(s, scope, target or "*", Activity.SYNC_REQUESTED, what, by=by, request=rq.id)
        if kind == SyncKind.REFRESH_LISTS:  # done at once: the lists are marked stale, the next session reads them
            n = _lists_stale(s, target)
            rq.done_at, rq.result = utcnow(), f"{n} company file(s): lists are read again at the next Web Connector " \
                                              "session"
        return rq.id


def _lists_stale(s: Session, company: str | None) -> int:
    q = select(CompanyState)
    if company:
        q = q.where(CompanyState.company == company)
    n = 0
    for cs in s.scalars(q):
        refs = {name: {**(state or {}), "stale": True, "disabled_until": None}
                for name, state in ((cs.info or {}).get("refs") or {}).items()}
        cs.info = {**(cs.info or {}), "refs": refs}
        n += 1
    return n


def take_sync_requests(store: Store, kind: SyncKind) -> list[SyncRequest]:
    """The open requests of ``kind``, marked done as they are taken (each is acted on once)."""
    with store.session() as s:
        rows = list(s.scalars(select(SyncRequest).where(SyncRequest.kind == SyncKind(kind),
                                                        SyncRequest.done_at.is_(None)).order_by(SyncRequest.id)))
        if rows:
            s.execute(update(SyncRequest).where(SyncRequest.id.in_([r.id for r in rows]))
                      .values(done_at=utcnow(), result="taken"), execution_options={"synchronize_session": False})
        return rows


def open_sync_requests(store: Store) -> list[dict]:
    with store.session() as s:
        return [{"id": r.id, "kind": r.kind, "target": r.target, "by": r.by,
                 "requested_at": r.requested_at.isoformat(timespec="seconds")}
                for r in s.scalars(select(SyncRequest).where(SyncRequest.done_at.is_(None)).order_by(SyncRequest.id))]


IDLE_POLL = "0 listed, 0 fetched"  # what IngestService.poll records for a poll that found nothing


def history(store: Store, *, scope: str | None = None, name: str | None = None, kinds=None,
            limit: int = 50, busy: bool = False) -> list[dict]:
    """The sync history, newest first (``kinds``: only these :class:`Activity` kinds; ``busy``: without the
    polls that found nothing, which would fill a short list every few minutes)."""
    with store.session() as s:
        return history_in(s, scope=scope, name=name, kinds=kinds, limit=limit, busy=busy)


def history_in(s: Session, *, scope: str | None = None, name: str | None = None, kinds=None,
               limit: int = 50, busy: bool = False) -> list[dict]:
    """:func:`history` in the unit of work ``s``."""
    q = select(SyncEvent).order_by(SyncEvent.id.desc()).limit(limit)
    if busy:
        q = q.where(~((SyncEvent.kind == Activity.POLL_OK) & (SyncEvent.message == IDLE_POLL)))
    if scope:
        q = q.where(SyncEvent.scope == _scope(scope))
    if name:
        q = q.where(SyncEvent.name == name)
    if kinds:
        q = q.where(SyncEvent.kind.in_(list(kinds)))
    return [{"id": e.id, "at": e.at.isoformat(timespec="seconds"), "scope": e.scope, "name": e.name,
             "kind": e.kind, "message": e.message, **(e.detail or {})} for e in s.scalars(q)]


def prune_history(store: Store, *, keep: int = HISTORY_KEEP) -> int:
    """Delete history beyond the newest ``keep`` rows (run now and then by the daemon)."""
    with store.session() as s:
        newest = s.scalar(select(SyncEvent.id).order_by(SyncEvent.id.desc()).offset(keep).limit(1))
        if newest is None:
            return 0
        return s.execute(delete(SyncEvent).where(SyncEvent.id <= newest)).rowcount

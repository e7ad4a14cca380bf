"""The main job: poll every source on its schedule and serve the Web Connector.

One APScheduler job per source (interval or cron, at most one instance,
coalesced, jittered). A failing source backs off exponentially and says why
in ``qbedi status`` and the log; queued work keeps flowing to QuickBooks
because the SOAP service does not depend on any source. SIGTERM / Ctrl-C
stop taking new polls, let a running poll finish its current file (every
step commits before the next), then stop the server.
"""
from __future__ import annotations

import random
import threading
from datetime import timedelta

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from connector.control import prune_history, take_sync_requests
from connector.services import PollReport
from connector.status import SyncKind
from connector.sources import Source
from connector.store import SourceState, utcnow

from .runtime import Runtime

log = structlog.get_logger(__name__)

MAX_BACKOFF = timedelta(hours=1)


class Poller:
    """Runs one source's poll with backoff bookkeeping in ``source_state``."""

    def __init__(self, runtime: Runtime, source: Source, base_interval: int = 300,
                 stop_event: threading.Event | None = None):
        self.rt = runtime
        self.source = source
        self.base = max(1, base_interval)
        self.lock = threading.Lock()
        self.stop_event = stop_event or threading.Event()
        self.forced = False  # a person asked for a poll now (sync now): the backoff does not apply once

    def __call__(self, *, force: bool = False) -> PollReport | None:
        if not self.lock.acquire(blocking=False):
            return None
        force, self.forced = force or self.forced, False
        try:
            with self.rt.store.session() as s:
                st = s.get(SourceState, self.source.name)
                if st is not None and not force and st.next_poll_at and st.next_poll_at > utcnow():
                    log.info("source.backing_off", source=self.source.name, until=st.next_poll_at.isoformat(),
                             failures=st.consecutive_failures, last_error=st.last_error)
                    return None
            try:
                report = self.rt.ingest.poll(self.source, should_stop=self.stop_event.is_set)
            except Exception as e:  # noqa: BLE001 - recorded below: status and backoff, never a dead scheduler
                log.exception("source.poll_crashed", source=self.source.name)
                report = PollReport(source=self.source.name, errors=[f"{type(e).__name__}: {e}"])
            if not report.paused and not report.elsewhere:
                self._record(report)
            return report
        finally:
            self.lock.release()

    def _record(self, report: PollReport) -> None:
        _ensure_source_row(self.rt.store, self.source.name)  # two processes polling at once: one row, no clash
        with self.rt.store.session() as s:
            st = s.get(SourceState, self.source.name, with_for_update=True)
            st.last_poll_at = utcnow()
            st.files_fetched = (st.files_fetched or 0) + len(report.fetched)
            failed_listing = report.errors and report.listed == 0
            if failed_listing:
                st.consecutive_failures = (st.consecutive_failures or 0) + 1
                st.last_error = report.errors[0]
                delay = min(MAX_BACKOFF.total_seconds(), self.base * 2 ** min(st.consecutive_failures, 12))
                delay *= random.uniform(0.8, 1.2)
                st.next_poll_at = utcnow() + timedelta(seconds=delay)
                log.warning("source.failing", source=self.source.name, failures=st.consecutive_failures,
                            retry_in_seconds=int(delay), error=st.last_error)
            else:
                st.consecutive_failures, st.next_poll_at = 0, None
                st.last_ok_at = st.last_poll_at
                st.last_error = report.errors[0] if report.errors else None
                log.info("source.polled", source=self.source.name, listed=report.listed,
                         fetched=len(report.fetched), skipped=report.skipped, errors=len(report.errors))
            s.merge(st)


def _ensure_source_row(store, name: str) -> None:
    """The source's health row exists (INSERT ... ON CONFLICT DO NOTHING: safe when another process
    creates it at the same moment)."""
    with store.session() as s:
        if s.get(SourceState, name) is not None:
            return
        if s.bind.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        s.execute(insert(SourceState).values(name=name, consecutive_failures=0, files_fetched=0)
                  .on_conflict_do_nothing(index_elements=["name"]))


def make_scheduler(runtime: Runtime, stop_event: threading.Event | None = None
                   ) -> tuple[BackgroundScheduler, list[Poller]]:
    sched = BackgroundScheduler(job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 300})
    pollers = []
    for cfg, source in zip(runtime.settings.sources, runtime.sources):
        poll = cfg.poll
        if poll.cron:
            trigger = CronTrigger.from_crontab(poll.cron)  # from_crontab() takes no jitter (APScheduler 3)
            trigger.jitter = poll.jitter_seconds or None
            base = 300
        else:
            base = poll.every_seconds or 300
            trigger = IntervalTrigger(seconds=base, jitter=poll.jitter_seconds or None)
        poller = Poller(runtime, source, base, stop_event)
        pollers.append(poller)
        sched.add_job(poller, trigger, id=f"poll:{source.name}", name=f"poll {source.name}",
                      next_run_time=None if poll.cron else _soon())
    sched.add_job(SyncNow(runtime, sched, pollers), IntervalTrigger(seconds=SYNC_CHECK_SECONDS), id="sync-now",
                  name="sync now requests")
    sched.add_job(lambda: prune_history(runtime.store), IntervalTrigger(hours=1), id="prune-history",
                  name="prune the sync history")
    if runtime.settings.notifications.channels:
        from connector.notify import Notifier

        notifier = Notifier(runtime.store, runtime.settings.notifications)

        def notify():
            try:
                notifier.check()
            except Exception:  # noqa: BLE001 - a database hiccup must not stop the scheduler
                log.exception("notify.check_failed")

        sched.add_job(notify, IntervalTrigger(seconds=NOTIFY_CHECK_SECONDS), id="notify", name="notifications")
    return sched, pollers


NOTIFY_CHECK_SECONDS = 60


SYNC_CHECK_SECONDS = 2


class SyncNow:
    """Acts on people's "sync now" requests (the web page, `qbedi sync now`, any process): the named
    source's poll job (or every one) runs at once, past its backoff."""

    def __init__(self, runtime: Runtime, sched, pollers: list[Poller]):
        self.rt, self.sched, self.pollers = runtime, sched, pollers

    def __call__(self) -> None:
        for rq in take_sync_requests(self.rt.store, SyncKind.POLL):
            chosen = [p for p in self.pollers if rq.target in (None, p.source.name)]
            if not chosen:
                log.warning("sync.unknown_source", source=rq.target, request=rq.id)
            for poller in chosen:
                poller.forced = True
                self.sched.get_job(f"poll:{poller.source.name}").modify(next_run_time=_soon(0))
                log.info("sync.now", source=poller.source.name, by=rq.by, request=rq.id)


def _soon(seconds: float = 1):
    from datetime import datetime

    return datetime.now().astimezone() + timedelta(seconds=seconds)


def run_daemon(runtime: Runtime, *, host: str | None = None, port: int | None = None,
               stop_event: threading.Event | None = None, ready=None) -> int:
    """Block until SIGTERM/SIGINT (or ``stop_event``). Returns the exit code."""
    from connector.store import safe_url
    from qbwc_server.server import settle_heap, start_in_thread, stopping_on_signals, wait_until_stopped

    wc = runtime.settings.web_connector
    stop = stop_event or threading.Event()
    with stopping_on_signals(stop):  # before the port opens: a SIGTERM right after is a clean stop
        runtime.ingest.resume()  # files stored before a crash but not yet translated
        app = runtime.wsgi_app()
        settle_heap()  # what lives as long as the process is not walked by every full collection
        handle = start_in_thread(app, host or wc.listen.host, wc.listen.port if port is None else port)
        sched, _ = make_scheduler(runtime, stop)
        sched.start()
        log.info("qbedi.started", soap_url=handle.url, sources=[s.name for s in runtime.sources],
                 database=safe_url(runtime.settings.database_url))
        if ready is not None:
            ready(handle)
        try:
            wait_until_stopped(stop)
        finally:
            log.info("qbedi.stopping", detail="waiting for a running poll to finish its current step")
            sched.shutdown(wait=True)
            handle.stop()
            log.info("qbedi.stopped")
    return 0

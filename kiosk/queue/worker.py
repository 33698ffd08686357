"""The render worker: a separate process that claims jobs from the database and paints them.

``stylebooth serve`` starts one; ``stylebooth worker`` runs one alone against the same
database URL. The models load once per process. The lanes ``worker_lanes`` names (all three
by default; a GPU host may take only ``hq,print``) run as threads:

* the **fast lane** takes ``FAST`` jobs (``tasks.run_fast``);
* the **HQ lane** takes ``HQ`` jobs (``tasks.run_hq``) in ``device_slots`` threads, at most
  ``device_slots`` at a time per device on this host (file locks in the host's runtime
  directory, ``tasks.DeviceLock``, so the workers of one machine never overload its device);
* the **print lane** takes ``PRINT`` jobs (``print_job.run_print``) under the same device lock,
  only while no HQ painting waits, and gives the lock back to one that comes meanwhile
  (``JobContext.yield_to_guests``).

The worker holds a lease of ``worker_lease_s``: its main thread beats its row in the
``workers`` table (the one liveness record: ``/healthz`` reads it) ``BEATS_PER_LEASE`` times
per lease, with the database's clock, and a running job whose worker's lease ran out is
requeued by the recovery of any live worker, whatever host, PID namespace or clock the dead
one had.

On PostgreSQL the lanes do not poll: they sleep until a notification of a claimable job of
their lane wakes them (``kiosk.queue.notify.Listener``). The fallback look for work that came
without one (a claim rolled back, say) rides along with the beat, as the recovery does: one
transaction per beat in all, so an idle worker costs the shared database a third of a
transaction a second with the default lease (``benchmarks/bench_queue.py`` measures it).
While the listener is disconnected, and always on SQLite (a local file costs nothing to
read), the lanes poll every ``POLLS[lane]``. A worker whose fenced write fails
(its job cancelled, or taken over after its lease ran out) stops that render and says so.
Stopping (SIGTERM, Ctrl-C) puts an unfinished job back in the queue and removes the row.
Everything it reads or writes goes through ``kiosk.queue.manager``.

A worker spawned by ``stylebooth serve`` exits when that server dies: the kernel sends it
SIGTERM (``PR_SET_PDEATHSIG``, Linux), and its heartbeat loop also notices a changed parent
pid (the moment before ``prctl`` ran, and systems without it). A worker that cannot start
leaves its error in its row for the server's supervisor to show on ``/healthz``.

Job and capture ids are bearer keys (they fetch a guest's photo), so the log names them by
their first ``ID_PREFIX`` characters only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import signal
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from db.models import JobStatus, Lane, new_id
from kiosk import order_book
from kiosk.cli import configure_logging
from kiosk.config import Settings
from kiosk.queue import manager, notify, print_job, tasks
from kiosk.queue.jobs import ClaimedJob
from kiosk.queue.tasks import DeviceLock
from kiosk.storage import open_store

if TYPE_CHECKING:  # torch: loaded by ``run``, not by importing this module
    from kiosk.painter import Painter

log = logging.getLogger("stylebooth.worker")

FAST_POLL_S = 0.05  # the first picture's latency budget is tight: poll often (cheap query)
HQ_POLL_S = 0.25
PRINT_POLL_S = 1.0  # print jobs wait minutes anyway: a cheaper poll
BEATS_PER_LEASE = 3  # a worker late by two beats (a stalled machine) still holds its lease
RECOVERY_S = 5.0  # on SQLite; on PostgreSQL the recovery rides along with every beat
FALLBACK_POLL_S = 60.0  # PostgreSQL: a lane's longest sleep (the beat looks for it meanwhile)
FORGET_AFTER_S = 24 * 3600  # a dead worker's row (and an unread fatal error) is kept a day
WORKER_NICE = 10  # scheduling priority of the worker process, below the server's
LANE_BACKOFF_CAP_S = 30.0  # a lane that keeps failing (database gone, disk full) retries this often
ID_PREFIX = 8  # characters of a job or capture id that the log shows
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
EXIT_FATAL = 3  # the worker could not start or run; its error is in its row
BODIES = {Lane.FAST: tasks.run_fast, Lane.HQ: tasks.run_hq, Lane.PRINT: print_job.run_print}
POLLS = {Lane.FAST: FAST_POLL_S, Lane.HQ: HQ_POLL_S, Lane.PRINT: PRINT_POLL_S}


def short(identifier: str | None) -> str:
    """An id as the log shows it: enough to tell jobs apart, not enough to fetch one."""
    return (identifier or "-")[:ID_PREFIX]


class Backoff:
    """Exponential retry delay: ``first_s``, doubled per failure up to ``cap_s``; a success
    starts again from ``first_s``."""

    def __init__(self, first_s: float, cap_s: float) -> None:
        self.first_s, self.cap_s = first_s, cap_s
        self.failures = 0

    def failed(self) -> float:
        """Count a failure; the delay before the next try."""
        self.failures += 1
        return min(self.cap_s, self.first_s * 2 ** (self.failures - 1))

    def succeeded(self) -> None:
        self.failures = 0


class RepeatedError:
    """Logs a failure that repeats every few seconds once per distinct error, and its end."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.last: str | None = None
        self.count = 0

    def failed(self, exc: BaseException) -> None:
        self.count += 1
        error = f"{type(exc).__name__}: {exc}"
        if error != self.last:
            log.warning("%s failed: %s (logged again only if the error changes)", self.what, error)
            self.last = error

    def succeeded(self) -> None:
        if self.count:
            log.info("%s works again after %d failures", self.what, self.count)
        self.last, self.count = None, 0


def die_with_parent(parent_pid: int) -> bool:
    """Ask the kernel for SIGTERM when the parent dies (Linux); False when the parent is
    already gone (it died before this ran: the kernel will not tell us then)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
                log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %s", ctypes.get_errno())
        except OSError as exc:  # no libc to load: the parent-pid check still works
            log.warning("prctl(PR_SET_PDEATHSIG) unavailable: %s", exc)
    return os.getppid() == parent_pid


class Worker:
    def __init__(
        self,
        settings: Settings,
        *,
        worker_id: str | None = None,
        parent_pid: int | None = None,
    ) -> None:
        from db.session import make_engine, make_sessionmaker

        self.settings = settings
        self.worker_id = worker_id or new_id()  # random per run: unique on any host
        self.host = socket.gethostname()
        self.parent_pid = parent_pid  # the supervising server; None when run on its own
        self.parent = f"{self.host}:{parent_pid}" if parent_pid else None
        self.ready = threading.Event()  # models loaded, lanes about to start
        self.device: str | None = None
        self.device_info: dict[str, Any] = {}
        self._heartbeat_errors = RepeatedError("the heartbeat")
        self._recovery_errors = RepeatedError("the recovery of interrupted jobs")
        self.engine = make_engine(settings.db_url)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.db = functools.partial(manager.in_session, self.sessions)
        self.stopping = threading.Event()
        self.fast_turn = tasks.FastTurn()
        self.store = open_store(settings.storage_url, settings.data_dir)  # the fleet's files
        self.active: set[str] = set()  # ids of the jobs the lanes are working on
        self.painter: Painter | None = None
        self.device_locks: dict[Lane, DeviceLock] = {}  # the HQ and print lanes', once known
        self.listener: notify.Listener | None = None  # PostgreSQL: the lanes' wake-ups
        self.bodies = dict(BODIES)  # what each lane runs (a test may give a lane its own)
        self.lease_s = float(settings.worker_lease_s)
        self.beat_s = max(0.5, self.lease_s / BEATS_PER_LEASE)
        self.recovery_s = 0.0 if notify.listening(settings.db_url) else RECOVERY_S

    # --- the process ---------------------------------------------------------------------

    def run(self) -> None:
        """Load the models, recover interrupted jobs, work until ``stop()``."""
        from db.migrate import upgrade
        from kiosk.painter import Painter
        from render.styles import STYLES

        upgrade(self.settings.db_url)
        started = time.perf_counter()
        self.painter = Painter(self.settings.models, self.settings.device)
        self.painter.warm_up(next(iter(STYLES)))
        self.device = str(self.painter.engine.device).replace(":", "")
        self.device_info = device_info(self.painter.engine.device)
        lanes = [Lane(lane) for lane in self.settings.lanes]  # this host's share of the work
        self.device_locks = {
            lane: DeviceLock(self.settings.runtime, self.device, self.settings.device_slots)
            for lane in (Lane.HQ, Lane.PRINT)
            if lane in lanes
        }
        self.serve(lanes, started=started)

    def serve(self, lanes: list[Lane], *, started: float | None = None) -> None:
        """Register, recover, run ``lanes`` and beat until ``stop()`` (``run`` once the models
        are loaded; a test calls it directly with bodies of its own)."""
        # The worker's capacity, in its row: /healthz and the admin page show it.
        self.device_info = {**self.device_info, "lanes": [str(lane) for lane in lanes],
                            "device_slots": self.settings.device_slots}  # fmt: skip
        self._register()
        self.ready.set()
        if started is not None:
            log.info("worker %s ready in %.1f s", self.worker_id, time.perf_counter() - started)
        self._recover()
        if notify.listening(self.settings.db_url):
            self.listener = notify.Listener(self.settings.db_url, lanes, self.stopping).start()
        threads = [
            threading.Thread(target=self._lane, args=(lane, lock), name=f"{lane}-lane-{n}")
            for lane in lanes
            for n, lock in enumerate(self._lane_locks(lane), 1)
        ]
        for thread in threads:
            thread.start()
        last_recovery = time.monotonic()
        try:
            while not self.stopping.wait(self.beat_s):
                if self.parent_pid is not None and os.getppid() != self.parent_pid:
                    log.warning(
                        "worker %s: its server (pid %s) is gone; stopping",
                        self.worker_id,
                        self.parent_pid,
                    )
                    break
                recover = time.monotonic() - last_recovery >= self.recovery_s
                if self._beat(recover=recover) and recover:
                    last_recovery = time.monotonic()
        finally:
            self.stop()
            for thread in threads:
                thread.join()
            if self.listener is not None:
                self.listener.join(notify.LISTEN_TICK_S * 4)
            try:
                self.db(manager.stop_worker, self.worker_id)
            except Exception as exc:  # the row goes stale instead; its jobs were released
                log.warning("worker %s: its row could not be removed: %s", self.worker_id, exc)
            self.engine.dispose()
            log.info("worker %s stopped", self.worker_id)

    def stop(self) -> None:
        self.stopping.set()
        if self.listener is not None:
            self.listener.wake_all()  # the lanes waiting on a wake-up see stopping at once

    def _register(self, session: Session | None = None) -> None:
        """Write the worker's row, its lease in it: a recovery gives this worker up on this
        worker's own lease, whatever lease the recovering worker holds."""
        info = {**self.device_info, "lease_s": self.lease_s}
        args = (self.worker_id,)
        kwargs: dict[str, Any] = dict(host=self.host, pid=os.getpid(), parent=self.parent,
                                      device=self.device, info=info)  # fmt: skip
        if session is None:
            self.db(manager.register_worker, *args, **kwargs)
        else:
            manager.register_worker(session, *args, **kwargs)

    def _beat(self, *, recover: bool = False) -> bool:
        """Renew the lease (registering again if the row was given up on) and, with
        ``recover``, run the recovery in the same transaction: one transaction per beat.
        False, logged once per distinct error, while the database is away."""
        try:
            try:
                found = self.db(self._beat_in, recover)
            except Exception as exc:
                if not recover:
                    raise
                self._recovery_errors.failed(exc)  # the recovery's fault: beat on its own
                found = self.db(self._beat_in, False)
            else:
                if recover:
                    self._recovery_errors.succeeded()
        except Exception as exc:
            self._heartbeat_errors.failed(exc)
            return False
        self._heartbeat_errors.succeeded()
        return found

    def _beat_in(self, session: Session, recover: bool) -> bool:
        if not manager.beat(session, self.worker_id, len(self.active)):
            log.warning("worker %s: its row was gone; registering again", self.worker_id)
            self._register(session)
        if recover:
            self._recover_in(session)
        listener = self.listener
        if listener is not None and listener.connected.is_set():
            # The lanes' fallback look, in this transaction: wake a lane with work waiting.
            for lane, wake in listener.wake.items():
                if not wake.is_set() and manager.has_claimable(session, lane):
                    wake.set()
        return True

    def _recover(self) -> None:
        self.db(self._recover_in)

    def _recover_in(self, session: Session) -> None:
        """Requeue the jobs of workers whose lease ran out, settle stranded orders, forget
        long-dead workers."""
        requeued = manager.requeue_stale(session, self.lease_s)
        if requeued:
            log.info("requeued interrupted jobs: %s", ", ".join(map(short, requeued)))
        stranded = order_book.sweep_stranded(session)
        if stranded:
            log.info("orders whose print job ended without them: %s", ", ".join(stranded))
        manager.prune_workers(session, FORGET_AFTER_S)

    def _claim(self, session: Session, lane: Lane) -> ClaimedJob | None:
        """The lane's next job, in one transaction; the print lane runs below HQ and takes
        nothing while a painting waits."""
        if lane == Lane.PRINT and manager.hq_waiting(session):
            return None
        return manager.claim(session, lane, self.worker_id)

    def _idle(self, lane: Lane, poll: float) -> None:
        """Wait before the lane looks again: for a wake-up (PostgreSQL, listener connected:
        a notification, or the beat's look), at most ``FALLBACK_POLL_S``; else ``poll``."""
        listener = self.listener
        if listener is None or not listener.connected.is_set():
            self.stopping.wait(poll)
            return
        listener.wake[lane].wait(FALLBACK_POLL_S)

    def _lane_locks(self, lane: Lane) -> list[DeviceLock | None]:
        """One device lock per thread of the lane: the HQ lane runs ``device_slots`` threads
        (N paintings at once on a large GPU, with the models loaded once), each with its own
        lock (``flock`` excludes open files, not threads); the others one thread."""
        first = self.device_locks.get(lane)
        if first is None:
            return [None]
        if lane != Lane.HQ:
            return [first]
        return [first, *(first.twin() for _ in range(len(first.paths) - 1))]

    def _lane(self, lane: Lane, lock: DeviceLock | None = None) -> None:
        """Claim and run the lane's jobs until stopping; ``lock``: the device lock an HQ or
        print render holds while it paints.

        A failure outside a job (the database locked or gone, the disk full) keeps the lane
        alive but backs it off exponentially up to ``LANE_BACKOFF_CAP_S``, and is logged once
        per distinct error, not once per retry (a full disk once wrote 935 tracebacks a
        second); the first success after failures is logged too.
        """
        poll = POLLS[lane]
        backoff = Backoff(poll, LANE_BACKOFF_CAP_S)
        last_error: str | None = None
        while not self.stopping.is_set():
            job: ClaimedJob | None = None
            try:
                if lock is not None and not lock.try_acquire():
                    self.stopping.wait(poll)
                    continue
                try:
                    if self.listener is not None:  # cleared before looking: none is missed
                        self.listener.wake[lane].clear()
                    job = self.db(self._claim, lane)
                    if job is not None:
                        self._run(job, lock)
                finally:
                    if lock is not None:
                        lock.release()
            except Exception as exc:  # the database went away for a while: keep the lane alive
                delay = backoff.failed()
                error = f"{type(exc).__name__}: {exc}"
                if error != last_error:
                    log.exception(
                        "%s lane: %s; retrying, at most every %.0f s",
                        lane,
                        error,
                        LANE_BACKOFF_CAP_S,
                    )
                    last_error = error
                else:
                    log.debug("%s lane: still failing (%d×): %s", lane, backoff.failures, error)
                self.stopping.wait(delay)
                continue
            if backoff.failures:
                log.info("%s lane: working again after %d failures", lane, backoff.failures)
                backoff.succeeded()
                last_error = None
            if job is None:
                self._idle(lane, poll)

    def _run(self, job: ClaimedJob, lock: DeviceLock | None = None) -> None:
        log.info("job %s (%s) for capture %s: started", short(job.id), job.lane,
                 short(job.capture.id))  # fmt: skip
        assert self.painter is not None
        ctx = tasks.JobContext(job=job, worker_id=self.worker_id,
                               store=self.store, painter=self.painter, db=self.db,
                               stopping=self.stopping, fast_turn=self.fast_turn,
                               device_lock=lock, sessions=self.sessions,
                               settings=self.settings)  # fmt: skip
        self.active.add(job.id)
        try:
            try:
                timings = self.bodies[job.lane](ctx)
            except tasks.JobLost as exc:
                log.warning("%s", exc)
                return
            except Exception as exc:
                log.exception("job %s failed", short(job.id))
                self.db(manager.finish, job.id, self.worker_id, JobStatus.failed,
                        error=tasks.failure_message(exc))  # fmt: skip
                return
            if timings is None:  # stopping: back to the queue, another run finishes it
                self.db(manager.release, job.id, self.worker_id)
                log.info("job %s: interrupted, requeued", short(job.id))
                return
            if self.db(manager.finish, job.id, self.worker_id, JobStatus.done, timings=timings):
                rounded = {k: round(v, 2) for k, v in timings.items()}
                log.info("job %s: done %s", short(job.id), rounded)
                if job.lane == Lane.HQ:  # the event may sell afterwards: a print master now
                    self.db(order_book.print_master_for_all, job.capture.id, self.settings)
                    self.db(order_book.auto_photo_order, job.capture.id, self.settings)
            else:
                log.warning("job %s: cancelled or taken over meanwhile; its result was dropped",
                            short(job.id))  # fmt: skip
        finally:
            self.active.discard(job.id)


def device_info(device: Any) -> dict[str, Any]:
    """What ``/healthz`` shows about the device; the worker measures it, since the server
    never imports torch (7.5 s of a stalled event loop on a busy machine)."""
    import torch

    from render.device import bf16_supported

    return {
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "bf16": bf16_supported(device),
        "torch": torch.__version__,
    }


def main(
    settings: Settings, *, parent_pid: int | None = None, worker_id: str | None = None
) -> None:
    """Entry point of the worker process (``stylebooth worker``, or spawned by ``serve`` with
    the server's pid as ``parent_pid`` and the id it gave the worker: the worker then lives
    no longer than its server, and the server can read why it stopped)."""
    if parent_pid is not None and not die_with_parent(parent_pid):
        return  # the server died while this process was starting
    configure_logging(settings.log_level)
    # Painting is background work: the server's event loop and the kiosk's browser come first
    # when the CPU is busy (threads made from here on inherit this).
    os.nice(WORKER_NICE)
    worker = Worker(settings, parent_pid=parent_pid, worker_id=worker_id)

    def _stop(signum: int, _frame: object) -> None:
        log.info("worker %s: %s, stopping", worker.worker_id, signal.Signals(signum).name)
        worker.stop()
        if not worker.ready.is_set():
            raise SystemExit(0)  # still loading models: nothing in hand to put back

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        worker.run()
    except Exception as exc:
        log.exception("worker %s could not run", worker.worker_id)
        try:
            worker.db(manager.record_fatal, worker.worker_id, host=worker.host,
                      pid=os.getpid(), parent=worker.parent,
                      error=tasks.failure_message(exc))  # fmt: skip
        except Exception:  # the database itself is the trouble: the exit code still says it
            log.warning("worker %s: its error could not be recorded", worker.worker_id)
        raise SystemExit(EXIT_FATAL) from None

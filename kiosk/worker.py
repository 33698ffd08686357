"""The render worker: a separate process that claims jobs from the database and paints them.

``stylebooth serve`` starts one; ``stylebooth worker`` runs one alone against the same
database URL. The models load once per process. Two lanes run as threads:

* the **fast lane** takes ``fast`` jobs: cut-out, compose, the instant painting (written
  first), then the composite the HQ render reuses;
* the **HQ lane** takes ``hq`` jobs, one at a time per device (a file lock in the data
  directory, so two workers on one machine never paint at once), and streams previews.

While the fast lane works, the HQ render pauses between iterations, so a new guest's first
picture never waits behind another guest's HQ painting. Progress, previews and results go
to the database; a heartbeat thread keeps the worker's running jobs alive. Stopping (SIGTERM,
Ctrl-C) puts an unfinished job back in the queue; a killed worker's jobs are requeued by the
next worker that starts (or notices the missing heartbeat).

A worker spawned by ``stylebooth serve`` exits when that server dies: the kernel sends it
SIGTERM (``PR_SET_PDEATHSIG``, Linux), and its heartbeat loop also notices a changed parent
pid (the moment before ``prctl`` ran, and systems without it). A worker that cannot start
leaves its error in a fatal note beside its beacon for the server to show on ``/healthz``.

Job and capture ids are bearer keys (they fetch a guest's photo), so the log names them by
their first ``ID_PREFIX`` characters only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from db.models import Capture, Job, JobStatus, Result
from kiosk import beacon, jobs
from kiosk.cli import configure_logging
from kiosk.config import Settings
from kiosk.painter import Painter
from kiosk.storage import capture_dir, resolve, save_image
from render.images import ImageError, load_image
from render.options import GatysOptions
from render.pipeline import Prepared, RenderCancelled
from render.progress import StyleProgress
from render.styles import STYLES

log = logging.getLogger("stylebooth.worker")

FAST_POLL_S = 0.05  # the first picture's latency budget is tight: poll often (cheap query)
HQ_POLL_S = 0.25
HEARTBEAT_S = 2.0
RECOVERY_S = 5.0
PROGRESS_EVERY_S = 0.5
WORKER_NICE = 10  # scheduling priority of the worker process, below the server's
LANE_BACKOFF_CAP_S = 30.0  # a lane that keeps failing (database gone, disk full) retries this often
ID_PREFIX = 8  # characters of a job or capture id that the log shows
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
EXIT_FATAL = 3  # the worker could not start or run; its error is in the fatal note


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


class DeviceLock:
    """One HQ render at a time per device, across every worker process on this machine."""

    def __init__(self, data_dir: Path, device: str) -> None:
        path = data_dir / "locks" / f"hq-{device}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a")

    def try_acquire(self) -> bool:
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(self) -> None:
        fcntl.flock(self._file, fcntl.LOCK_UN)


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
        self.worker_id = worker_id or jobs.this_worker_id()
        self.parent_pid = parent_pid  # the supervising server; None when run on its own
        self.parent = f"{self.worker_id.rpartition(':')[0]}:{parent_pid}" if parent_pid else None
        self.ready = threading.Event()  # models loaded, lanes about to start
        self.device_info: dict[str, object] = {}
        self._heartbeat_errors = RepeatedError("the heartbeat")
        self._beacon_errors = RepeatedError("writing the worker beacon")
        self.engine = make_engine(settings.db_url)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.stopping = threading.Event()
        self.fast_busy = threading.Event()
        self.active: set[str] = set()  # ids of the jobs the lanes are working on
        self.painter: Painter | None = None

    # --- the process ---------------------------------------------------------------------

    def run(self) -> None:
        """Load the models, recover interrupted jobs, work until ``stop()``."""
        from db.migrate import upgrade

        upgrade(self.settings.db_url)
        started = time.perf_counter()
        self.painter = Painter(self.settings.models, self.settings.device)
        self.painter.warm_up(next(iter(STYLES)))
        device = str(self.painter.engine.device).replace(":", "")
        self.device_info = device_info(self.painter.engine.device)
        self.device_lock = DeviceLock(self.settings.data_dir, device)
        self._beat(device)
        self.ready.set()
        log.info("worker %s ready in %.1f s", self.worker_id, time.perf_counter() - started)
        self._recover()
        lanes = [
            threading.Thread(target=self._lane, args=(jobs.FAST,), name="fast-lane"),
            threading.Thread(target=self._lane, args=(jobs.HQ,), name="hq-lane"),
        ]
        for lane in lanes:
            lane.start()
        last_recovery = time.monotonic()
        try:
            while not self.stopping.wait(HEARTBEAT_S):
                if self.parent_pid is not None and os.getppid() != self.parent_pid:
                    log.warning(
                        "worker %s: its server (pid %s) is gone; stopping",
                        self.worker_id,
                        self.parent_pid,
                    )
                    break
                self._beat(device)  # first: the worker is alive even when the database is not
                try:
                    jobs.heartbeat(self.sessions, self.worker_id, list(self.active))
                    if time.monotonic() - last_recovery > RECOVERY_S:
                        self._recover()
                        last_recovery = time.monotonic()
                except Exception as exc:  # the database is away: keep beating, say so once
                    self._heartbeat_errors.failed(exc)
                else:
                    self._heartbeat_errors.succeeded()
        finally:
            self.stopping.set()
            for lane in lanes:
                lane.join()
            self.engine.dispose()
            beacon.clear(self.settings.data_dir, self.worker_id)
            log.info("worker %s stopped", self.worker_id)

    def stop(self) -> None:
        self.stopping.set()

    def _beat(self, device: str) -> None:
        try:
            beacon.beat(
                self.settings.data_dir,
                self.worker_id,
                device=device,
                busy=len(self.active),
                parent=self.parent,
                info=self.device_info,
            )
        except OSError as exc:  # a full disk must not stop the renders; /healthz will tell
            self._beacon_errors.failed(exc)
        else:
            self._beacon_errors.succeeded()

    def _recover(self) -> None:
        requeued = jobs.requeue_interrupted(
            self.sessions,
            stale_after=self.settings.stale_after_s,
            working_on=frozenset(self.active),
        )
        if requeued:
            log.info("requeued interrupted jobs: %s", ", ".join(map(short, requeued)))
        beacon.prune(self.settings.data_dir, self.settings.stale_after_s)

    def _lane(self, mode: str) -> None:
        """Claim and run the lane's jobs until stopping.

        A failure outside a job (the database locked or gone, the disk full) keeps the lane
        alive but backs it off exponentially up to ``LANE_BACKOFF_CAP_S``, and is logged once
        per distinct error, not once per retry (a full disk once wrote 935 tracebacks a
        second); the first success after failures is logged too.
        """
        poll = FAST_POLL_S if mode == jobs.FAST else HQ_POLL_S
        run = self._run_fast if mode == jobs.FAST else self._run_hq
        backoff = Backoff(poll, LANE_BACKOFF_CAP_S)
        last_error: str | None = None
        while not self.stopping.is_set():
            job_id: str | None = None
            try:
                if mode == jobs.HQ and not self.device_lock.try_acquire():
                    self.stopping.wait(poll)
                    continue
                try:
                    job_id = jobs.claim(self.sessions, mode, self.worker_id)
                    if job_id is not None:
                        self._run(job_id, run)
                finally:
                    if mode == jobs.HQ:
                        self.device_lock.release()
            except Exception as exc:  # the database went away for a while: keep the lane alive
                delay = backoff.failed()
                error = f"{type(exc).__name__}: {exc}"
                if error != last_error:
                    log.exception(
                        "%s lane: %s; retrying, at most every %.0f s",
                        mode,
                        error,
                        LANE_BACKOFF_CAP_S,
                    )
                    last_error = error
                else:
                    log.debug("%s lane: still failing (%d×): %s", mode, backoff.failures, error)
                self.stopping.wait(delay)
                continue
            if backoff.failures:
                log.info("%s lane: working again after %d failures", mode, backoff.failures)
                backoff.succeeded()
                last_error = None
            if job_id is None:
                self.stopping.wait(poll)

    def _run(self, job_id: str, run: Callable[[Job, Capture], dict[str, float] | None]) -> None:
        with self.sessions.begin() as session:
            job = session.get(Job, job_id)
            assert job is not None
            capture = job.capture
            session.expunge_all()
        log.info("job %s (%s) for capture %s: started", short(job.id), job.mode, short(capture.id))
        self.active.add(job.id)
        try:
            try:
                timings = run(job, capture)
            except Exception as exc:
                log.exception("job %s failed", short(job.id))
                jobs.finish(self.sessions, job.id, JobStatus.failed, error=failure_message(exc))
                return
            if timings is None:  # stopping: back to the queue, another run finishes it
                jobs.release(self.sessions, job.id)
                log.info("job %s: interrupted, requeued", short(job.id))
                return
            jobs.finish(self.sessions, job.id, JobStatus.done, timings=timings)
            rounded = {k: round(v, 2) for k, v in timings.items()}
            log.info("job %s: done %s", short(job.id), rounded)
        finally:
            self.active.discard(job.id)

    # --- the two kinds of job --------------------------------------------------------------

    def _save(
        self,
        capture: Capture,
        job: Job | None,
        kind: str,
        image: Image.Image,
        fmt: str = "JPEG",
        **options: Any,
    ) -> None:
        suffix = {"JPEG": "jpg", "PNG": "png"}[fmt]
        relative = capture_dir(capture.id) / f"{kind}.{suffix}"
        sha = save_image(resolve(self.settings.data_dir, relative), image, fmt, **options)
        with self.sessions.begin() as session:
            jobs.save_result(
                session,
                capture_id=capture.id,
                job_id=job.id if job else None,
                kind=kind,
                path=str(relative),
                size=image.size,
                sha256=sha,
            )

    def _run_fast(self, job: Job, capture: Capture) -> dict[str, float]:
        assert self.painter is not None
        options = job.options
        started = time.perf_counter()
        self.fast_busy.set()
        try:
            jobs.report(self.sessions, job.id, stage="cutout", progress=0.1)
            photo = load_image(resolve(self.settings.data_dir, capture.photo_path))
            size = max(options.get("fast_size", 640), options.get("hq_size", 512))
            prepared = self.painter.prepare(photo, capture.scene, size)
            jobs.report(self.sessions, job.id, stage="painting", progress=0.6)
            painted = self.painter.fast(prepared, capture.style, options.get("fast_size", 640))
            self._save(capture, job, "fast", painted)
            first_picture = time.perf_counter() - started
        finally:
            self.fast_busy.clear()
        # For the HQ render (it reuses the composite) and for print exports (people mask).
        self._save_prepared(capture, job, prepared)
        return {
            **prepared.timings,
            "first_picture": first_picture,
            "total": time.perf_counter() - started,
        }

    def _save_prepared(self, capture: Capture, job: Job | None, prepared: Prepared) -> None:
        self._save(capture, job, "composite", prepared.composite, "PNG", compress_level=1)
        self._save(capture, job, "alpha", prepared.alpha.convert("L"), "PNG")
        with self.sessions.begin() as session:
            session.execute(
                update(Capture)
                .where(Capture.id == capture.id)
                .values(person_found=prepared.person_found)
            )

    def _prepared_for(self, capture: Capture, size: int) -> Prepared:
        """The composite the fast job left, or a new one when it is missing or too small."""
        with self.sessions.begin() as session:
            paths = dict(
                session.execute(
                    select(Result.kind, Result.path).where(
                        Result.capture_id == capture.id, Result.kind.in_(("composite", "alpha"))
                    )
                ).all()
            )
        if len(paths) == 2:
            try:
                composite = load_image(resolve(self.settings.data_dir, paths["composite"]))
                with Image.open(resolve(self.settings.data_dir, paths["alpha"])) as alpha:
                    alpha = alpha.convert("L")
                if max(composite.size) >= size:
                    return Prepared(composite, alpha, bool(capture.person_found))
            except (ImageError, OSError):
                log.warning("capture %s: composite unreadable, making it again", short(capture.id))
        assert self.painter is not None
        photo = load_image(resolve(self.settings.data_dir, capture.photo_path))
        prepared = self.painter.prepare(photo, capture.scene, size)
        self._save_prepared(capture, None, prepared)
        return prepared

    def _run_hq(self, job: Job, capture: Capture) -> dict[str, float] | None:
        assert self.painter is not None
        started = time.perf_counter()
        size = job.options.get("hq_size", 512)
        jobs.report(self.sessions, job.id, stage="compose", progress=0.0)
        prepared = self._prepared_for(capture, size)
        jobs.report(self.sessions, job.id, stage="painting", progress=0.02)
        tracker = HQTracker(self, job, capture)
        try:
            painting = self.painter.hq(
                prepared,
                capture.style,
                size=size,
                budget=job.options.get("budget_s"),
                hq=GatysOptions.from_mapping(job.options.get("hq", {})),
                progress=tracker.on_progress,
                cancel=tracker.should_stop,
            )
        except RenderCancelled:
            painting = None
        if self.stopping.is_set():
            return None
        if painting is None or tracker.cancelled():
            return {"hq": time.perf_counter() - started}
        jobs.report(self.sessions, job.id, stage="saving", progress=0.99)
        self._save(capture, job, "master", painting, "PNG")
        self._save(capture, job, "final", painting, "JPEG", quality=93)
        return {
            "hq": time.perf_counter() - started,
            "paused_for_fast": tracker.paused,
            "steps": tracker.steps,  # fewer than planned: the time budget ran out
            "steps_planned": tracker.steps_planned,
        }


class HQTracker:
    """The HQ render's progress callback and cancel check."""

    def __init__(self, worker: Worker, job: Job, capture: Capture) -> None:
        self.worker, self.job, self.capture = worker, job, capture
        self.last_report = 0.0
        self.last_check = 0.0
        self.status: JobStatus | None = JobStatus.running
        self.paused = 0.0
        self.steps = self.steps_planned = 0

    def on_progress(self, step: StyleProgress) -> None:
        now = time.monotonic()
        self.steps, self.steps_planned = step.iteration, step.iterations
        fraction = progress_fraction(step, self.job.options.get("budget_s"))
        if getattr(step, "preview", None) is not None:
            self.worker._save(self.capture, self.job, "preview", step.preview, quality=85)
            self.last_report = 0.0
        if now - self.last_report >= PROGRESS_EVERY_S:
            jobs.report(self.worker.sessions, self.job.id, progress=0.02 + 0.96 * fraction)
            self.last_report = now
        # Give the CPU to a new guest's instant picture.
        pause_started = time.perf_counter()
        while self.worker.fast_busy.is_set() and not self.worker.stopping.is_set():
            time.sleep(0.01)
        self.paused += time.perf_counter() - pause_started

    def cancelled(self) -> bool:
        now = time.monotonic()
        if now - self.last_check >= 1.0:
            self.status = jobs.status_of(self.worker.sessions, self.job.id)
            self.last_check = now
        return self.status != JobStatus.running

    def should_stop(self) -> bool:
        return self.worker.stopping.is_set() or self.cancelled()


def progress_fraction(step: StyleProgress, budget: float | None) -> float:
    """0..1 from a ``StyleProgress`` (steps over all scales); under a time budget, the share
    of the budget used when that is further along."""
    fraction = step.iteration / max(1, step.iterations)
    if budget:
        fraction = max(fraction, step.elapsed / budget)
    return min(1.0, max(0.0, fraction))


def failure_message(exc: Exception) -> str:
    """What the guest and the operator read when a render fails."""
    from render.models import ModelUnavailable

    if isinstance(exc, (ImageError, ModelUnavailable)):
        return str(exc)
    return f"the painting could not be made ({type(exc).__name__}: {exc})"


def device_info(device: Any) -> dict[str, object]:
    """What ``/healthz`` shows about the device; the worker measures it, since the server
    never imports torch (7.5 s of a stalled event loop on a busy machine)."""
    import torch

    from render.device import bf16_supported

    return {
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "bf16": bf16_supported(device),
        "torch": torch.__version__,
    }


def main(settings: Settings, *, parent_pid: int | None = None) -> None:
    """Entry point of the worker process (``stylebooth worker``, or spawned by ``serve`` with
    the server's pid as ``parent_pid``: the worker then lives no longer than its server)."""
    if parent_pid is not None and not die_with_parent(parent_pid):
        return  # the server died while this process was starting
    configure_logging(settings.log_level)
    # Painting is background work: the server's event loop and the kiosk's browser come first
    # when the CPU is busy (threads made from here on inherit this).
    os.nice(WORKER_NICE)
    worker = Worker(settings, parent_pid=parent_pid)

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
        beacon.write_fatal(settings.data_dir, worker.worker_id, failure_message(exc))
        raise SystemExit(EXIT_FATAL) from None

"""The fast and HQ job bodies, and the ``JobContext`` each body is given (the print job's
body, which uses the same context, is ``kiosk.queue.print_job``).

The context is everything a body may do besides painting: report its stage and progress,
save an image of the capture, ask ``should_stop()`` (the worker stopping, the job cancelled
or taken over), and give way to guests: the HQ render calls ``yield_to_fast()`` between
iterations, so a new guest's first picture never waits behind another guest's HQ painting;
the print render calls ``yield_to_guests()`` between units of work, which also hands the
device to a waiting HQ painting (the print job runs below both). Every write goes through
the manager, guarded by the worker's id.

A body returns its timings (seconds per step), or None when the worker is stopping (the job
goes back to the queue, another run finishes it). A fenced write that finds the job no longer
this worker's (cancelled, or requeued after the worker's lease ran out and maybe taken by
another) raises ``JobLost`` out of the body: the render stops at once and nothing more of it
is written.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from db.models import ResultKind
from kiosk.queue import manager
from kiosk.queue.jobs import ClaimedJob
from kiosk.storage import FileStore, MissingFile, capture_dir, encode
from render.errors import StyleBoothError
from render.files import sha256_bytes
from render.images import ImageError, load_image
from render.options import GatysOptions
from render.progress import StyleProgress

if TYPE_CHECKING:  # the painter loads torch: imported by the worker once it starts painting
    from kiosk.config import Settings
    from kiosk.painter import Painter
    from render.pipeline import Prepared

log = logging.getLogger("stylebooth.worker")

PROGRESS_EVERY_S = 0.5  # HQ progress is written at most this often
STATUS_EVERY_S = 1.0  # whether the job is still ours is read at most this often
HQ_CHECK_EVERY_S = 0.5  # a print render asks whether an HQ painting waits at most this often
DEVICE_POLL_S = 0.25  # a print render waiting for the device looks again this often
Timings = dict[str, float]
Db = Callable[..., Any]  # ``db(manager.fn, *args)``: one transaction


class JobLost(StyleBoothError, code="conflict"):
    """The job is no longer this worker's (cancelled, or taken over): its render stops."""


class FastTurn:
    """Who holds the CPU for an instant picture: the fast lane takes it while it works, the
    HQ lane waits for it to be given back."""

    def __init__(self) -> None:
        self._free = threading.Event()
        self._free.set()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self._free.clear()
        try:
            yield
        finally:
            self._free.set()

    def wait_free(self, stopping: threading.Event) -> float:
        """Block while a fast job runs (or until stopping); the seconds waited."""
        if self._free.is_set():
            return 0.0
        started = time.perf_counter()
        while not self._free.wait(0.05) and not stopping.is_set():
            pass
        return time.perf_counter() - started


class DeviceLock:
    """At most ``slots`` HQ or print renders at once per device, across every worker process
    on this host: one file lock per slot in the host's runtime directory
    (``settings.runtime``, never shared storage: ``flock`` on a network file system either
    does not work or would make hosts wait for each other's devices).

    ``try_acquire`` takes the first free slot; ``release`` gives back the one it took. Each
    lane opens its own: ``flock`` locks belong to an open file, so two lanes sharing one
    would never exclude each other."""

    def __init__(self, runtime_dir: Path, device: str, slots: int = 1) -> None:
        if slots < 1:
            raise ValueError(f"a device needs at least one render slot, got {slots}")
        self.runtime_dir, self.device = runtime_dir, device
        folder = runtime_dir / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        self.paths = [folder / f"device-{device}.{slot}.lock" for slot in range(slots)]
        self._files = [path.open("a") for path in self.paths]
        self._held: int | None = None  # the slot this lock holds

    def twin(self) -> DeviceLock:
        """Another lock on the same device's slots (for another thread of the lane)."""
        return DeviceLock(self.runtime_dir, self.device, len(self.paths))

    @property
    def slot(self) -> int | None:
        """The slot held now (0-based), or None."""
        return self._held

    def try_acquire(self) -> bool:
        """Take a free slot of the device without waiting; False when every slot is busy."""
        if self._held is not None:
            return True
        for slot, file in enumerate(self._files):
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            self._held = slot
            return True
        return False

    def acquire(self, stopping: threading.Event, poll: float = DEVICE_POLL_S) -> bool:
        """Wait for a slot of the device; False when the worker started stopping first."""
        while not self.try_acquire():
            if stopping.wait(poll):
                return False
        return True

    def release(self) -> None:
        if self._held is not None:
            fcntl.flock(self._files[self._held], fcntl.LOCK_UN)
            self._held = None

    def close(self) -> None:
        self.release()
        for file in self._files:
            file.close()


@dataclass
class JobContext:
    """What a job body gets from the worker that runs it."""

    job: ClaimedJob
    worker_id: str
    store: FileStore  # every file the job reads or writes: another host may hold the next job
    painter: Painter
    db: Db
    stopping: threading.Event
    fast_turn: FastTurn
    device_lock: DeviceLock | None = None  # held while an HQ or print render paints
    sessions: sessionmaker[Session] | None = None  # for the print job's exports
    settings: Settings | None = None  # the worker's: a photo print's label names the event
    paused_s: float = 0.0  # time the render gave to guests' fast (and HQ) jobs
    _running: bool = True
    _checked_at: float = field(default=float("-inf"))
    _hq_checked_at: float = field(default=float("-inf"))

    def report(self, stage: str | None = None, progress: float | None = None) -> None:
        """Record the stage and progress; ``JobLost`` when the job is not ours any more."""
        if not self.db(manager.report, self.job.id, self.worker_id, stage=stage,
                       progress=progress):  # fmt: skip
            self._lost()

    def _lost(self) -> None:
        self._running = False
        raise JobLost(
            f"job {self.job.id[:8]} is no longer this worker's (cancelled, or requeued after "
            "its lease ran out): its render stopped"
        )

    def save(self, kind: ResultKind, image: Image.Image, fmt: str = "JPEG", **options: Any) -> None:
        """Write an image of the capture into the store and record it (if the job is still
        ours). The store's write is atomic, so a booth never serves half an image."""
        suffix = {"JPEG": "jpg", "PNG": "png"}[fmt]
        key = (capture_dir(self.job.capture.id) / f"{kind}.{suffix}").as_posix()
        data = encode(image, fmt, **options)
        sha = sha256_bytes(data)
        self.store.put(key, data, sha256=sha)
        if not self.db(manager.save_result, job_id=self.job.id, worker_id=self.worker_id,
                       capture_id=self.job.capture.id, kind=kind, path=key,
                       size=image.size, sha256=sha):  # fmt: skip
            self._lost()

    def load(self, key: str) -> Image.Image:
        """A stored image of the capture, checked (``load_image``); ``MissingFile`` when the
        store has no such file, ``ImageError`` when it is no usable image."""
        return load_image(self.store.get(key))

    def photo(self) -> Image.Image:
        return self.load(self.job.capture.photo_path)

    def should_stop(self) -> bool:
        """The worker is stopping, or the job is no longer this worker's to run."""
        if self.stopping.is_set():
            return True
        now = time.monotonic()
        if now - self._checked_at >= STATUS_EVERY_S:
            self._running = self.db(manager.is_running, self.job.id, self.worker_id)
            self._checked_at = now
        return not self._running

    def yield_to_fast(self) -> None:
        """Give the CPU to a new guest's instant picture while one is being made."""
        self.paused_s += self.fast_turn.wait_free(self.stopping)

    def yield_to_guests(self) -> None:
        """The print render's pause: give way to a fast picture at once and, when an HQ
        painting is queued or running (asked at most every ``HQ_CHECK_EVERY_S``), give the
        device up until none waits, then take it back. The render carries on from its state
        in memory; a stopping worker returns at once (its cancel check ends the render)."""
        self.yield_to_fast()
        now = time.monotonic()
        if now - self._hq_checked_at < HQ_CHECK_EVERY_S or self.device_lock is None:
            return
        self._hq_checked_at = now
        if not self.db(manager.hq_waiting):
            return
        started = time.perf_counter()
        self.device_lock.release()
        log.info("job %s: print render paused for an HQ painting", self.job.id[:8])
        while not self.stopping.wait(HQ_CHECK_EVERY_S) and self.db(manager.hq_waiting):
            pass
        if self.device_lock.acquire(self.stopping):
            self.yield_to_fast()
        self.paused_s += time.perf_counter() - started
        self._hq_checked_at = time.monotonic()


def save_prepared(ctx: JobContext, prepared: Prepared) -> None:
    """The composite and its people mask: the HQ render paints the one, print exports cut
    along the other."""
    ctx.save(ResultKind.COMPOSITE, prepared.composite, "PNG", compress_level=1)
    ctx.save(ResultKind.ALPHA, prepared.alpha.convert("L"), "PNG")
    ctx.db(manager.set_person_found, ctx.job.capture.id, prepared.person_found)


def run_fast(ctx: JobContext) -> Timings:
    """Cut-out, compose, the instant painting (written first), then the composite."""
    capture, options = ctx.job.capture, ctx.job.options
    started = time.perf_counter()
    with ctx.fast_turn.held():
        ctx.report(stage="cutout", progress=0.1)
        size = max(options.fast_size, options.hq_size)
        prepared = ctx.painter.prepare(ctx.photo(), capture.scene, size)
        ctx.report(stage="painting", progress=0.6)
        painted = ctx.painter.fast(prepared, capture.style, options.fast_size)
        ctx.save(ResultKind.FAST, painted)
        first_picture = time.perf_counter() - started
    save_prepared(ctx, prepared)
    return {**prepared.timings, "first_picture": first_picture,
            "total": time.perf_counter() - started}  # fmt: skip


def prepared_for(ctx: JobContext, size: int) -> Prepared:
    """The composite the fast job left, or a new one when it is missing or too small."""
    capture = ctx.job.capture
    kinds = (ResultKind.COMPOSITE, ResultKind.ALPHA)
    paths = ctx.db(manager.result_paths, capture.id, kinds)
    if len(paths) == len(kinds):
        try:
            composite = ctx.load(paths[ResultKind.COMPOSITE])
            with Image.open(io.BytesIO(ctx.store.get(paths[ResultKind.ALPHA]))) as stored:
                alpha = stored.convert("L")
            if max(composite.size) >= size:
                from render.pipeline import Prepared

                return Prepared(composite, alpha, bool(capture.person_found))
        except (ImageError, MissingFile, OSError):
            log.warning("capture %s: composite unreadable, making it again", capture.id[:8])
    prepared = ctx.painter.prepare(ctx.photo(), capture.scene, size)
    save_prepared(ctx, prepared)
    return prepared


class HQProgress:
    """The HQ render's progress callback: previews, progress, and yielding to fast jobs."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.reported_at = float("-inf")
        self.steps = self.steps_planned = 0

    def __call__(self, step: StyleProgress) -> None:
        self.steps, self.steps_planned = step.iteration, step.iterations
        if step.preview is not None:
            self.ctx.save(ResultKind.PREVIEW, step.preview, quality=85)
            self.reported_at = float("-inf")
        now = time.monotonic()
        if now - self.reported_at >= PROGRESS_EVERY_S:
            fraction = progress_fraction(step, self.ctx.job.options.budget_s)
            self.ctx.report(progress=0.02 + 0.96 * fraction)
            self.reported_at = now
        self.ctx.yield_to_fast()


def run_hq(ctx: JobContext) -> Timings | None:
    """The high-quality painting of the composite, previews on the way."""
    capture, options = ctx.job.capture, ctx.job.options
    started = time.perf_counter()
    hq = GatysOptions.from_mapping(options.hq)  # the stored job's options, checked again
    ctx.report(stage="compose", progress=0.0)
    prepared = prepared_for(ctx, options.hq_size)
    ctx.report(stage="painting", progress=0.02)
    progress = HQProgress(ctx)
    # A cancel is honoured between iterations: stylize returns the best painting so far.
    painting = ctx.painter.hq(
        prepared,
        capture.style,
        size=options.hq_size,
        budget=options.budget_s,
        hq=hq,
        progress=progress,
        cancel=ctx.should_stop,
    )
    if ctx.stopping.is_set():
        return None
    if ctx.should_stop():  # cancelled or taken over: nothing to save
        return {"hq": time.perf_counter() - started}
    ctx.report(stage="saving", progress=0.99)
    ctx.save(ResultKind.MASTER, painting, "PNG")
    ctx.save(ResultKind.FINAL, painting, "JPEG", quality=93)
    return {
        "hq": time.perf_counter() - started,
        "paused_for_fast": ctx.paused_s,
        "steps": progress.steps,  # fewer than planned: the time budget ran out
        "steps_planned": progress.steps_planned,
    }


def progress_fraction(step: StyleProgress, budget: float | None) -> float:
    """0..1 from a ``StyleProgress`` (steps over all scales); under a time budget, the share
    of the budget used when that is further along."""
    fraction = step.iteration / max(1, step.iterations)
    if budget:
        fraction = max(fraction, step.elapsed / budget)
    return min(1.0, max(0.0, fraction))


def failure_message(exc: Exception) -> str:
    """What the guest and the operator read when a render fails."""
    if isinstance(exc, StyleBoothError):  # written for people already
        return str(exc)
    return f"the painting could not be made ({type(exc).__name__}: {exc})"

"""Reading a guest's photo upload with hard bounds on memory, disk, time and concurrency.

What a hostile or broken client could otherwise do to the booth, and the bound that stops it
(each as nginx or Django bounds the same thing):

* **a huge body** (150 MB of unknown fields was accepted): the whole body is capped at
  ``max_upload_mb`` plus ``BODY_MARGIN`` for the form's headers and text fields, counted as
  it arrives, like nginx's ``client_max_body_size`` → 413. A ``Content-Length`` already over
  it is refused before a byte is read. At most ``MAX_PARTS`` form fields, like Django's
  ``DATA_UPLOAD_MAX_NUMBER_FIELDS``.
* **buffers that outlive the request** (30 aborted uploads held 642 MB until a full garbage
  collection): the photo streams into a ``SpooledTemporaryFile`` in ``DATA_DIR/tmp``: in
  memory up to ``SPOOL_BYTES`` (a camera shot), then an unnamed file on disk. It is closed,
  and so freed or deleted, on every way out of the request: success, refusal, an aborted
  connection, a crash. The kernel deletes an unnamed file even if the server is killed.
* **a slow body** (slowloris: 1 KB, then nothing, held a connection 150 s+): the whole body
  must arrive within ``upload_timeout_s`` (30 s) → 408. nginx's ``client_body_timeout`` times
  the gap between two reads; a deadline on the whole body also stops a client that dribbles a
  byte every few seconds. After the answer, aiohttp reads and discards what is still in flight
  for at most 10 s and then closes (nginx's lingering close), holding no buffer.
* **many uploads at once**: at most ``max_uploads`` captures are read and stored at a time;
  one more is answered 503 with Retry-After at once (nginx's ``limit_conn``), never queued.
* **many large photos at once** (12 concurrent 49 MP photos stalled every request 9.6 s and
  took the server to 2.6 GB): decoding runs on its own executor of ``DECODE_SLOTS`` threads,
  never the default pool the rest of the server uses; a photo that finds every slot busy
  waits at most ``DECODE_WAIT_S`` and is then answered 503 with Retry-After.
* **malformed multipart** (a NUL in a filename, no or a wrong boundary, a truncated body: the
  parser's ``ValueError``/``InvalidHeader`` gave 500): answered 400 with what was wrong.
"""

from __future__ import annotations

import asyncio
import ctypes
import tempfile
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import IO, Any, TypeVar

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from kiosk import keys
from kiosk.config import Settings
from kiosk.errors import ApiError

T = TypeVar("T")

BODY_MARGIN = 64 * 1024  # the form's part headers and its small text fields, beyond the photo
FIELD_LIMIT = 1024  # bytes of one text field of the capture form
MAX_PARTS = 16  # photo, style, scene, source and a browser's extras; not thousands
CHUNK = 256 * 1024
SPOOL_BYTES = 1024 * 1024  # a booth camera shot stays in memory; larger photos go to disk
DECODE_SLOTS = 2  # concurrent photo decodes: each may take ~100 MB of pixels for a moment
DECODE_WAIT_S = 10.0  # how long a photo waits for a decode slot before 503
RETRY_AFTER_S = 3
CAP_CHECK_S = 0.01  # how often the body's size is checked while a part's boundary is sought
TEXT_FIELDS = ("style", "scene", "source")
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)


def busy(what: str) -> ApiError:
    """503 with Retry-After (RFC 9110 §15.6.4): the request was fine; send it again shortly."""
    return ApiError(
        503,
        "busy",
        f"the booth is busy {what}; please try again in a few seconds",
        {"Retry-After": str(RETRY_AFTER_S)},
    )


@dataclass
class CaptureForm:
    """A capture upload as read: the photo in a temporary file, and the text fields."""

    photo: IO[bytes]
    photo_bytes: int
    fields: dict[str, str] = field(default_factory=dict)


class UploadGate:
    """The bounds of the capture route for one app: upload slots, decode slots and executor,
    and the temporary folder the photos spool to."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tmp_dir = settings.data_dir / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.max_uploads = settings.max_uploads
        self.active = 0  # captures being read or stored (event-loop state: no lock needed)
        self._slots = asyncio.Semaphore(DECODE_SLOTS)
        self.decode_wait_s = DECODE_WAIT_S
        self._executor = ThreadPoolExecutor(DECODE_SLOTS, thread_name_prefix="stylebooth-decode")

    @property
    def body_limit(self) -> int:
        return self.settings.max_upload_mb * 1024 * 1024 + BODY_MARGIN

    @asynccontextmanager
    async def capture_form(self, request: web.Request) -> AsyncIterator[CaptureForm]:
        """The upload, read within every bound above; its temporary file is closed (freed or
        deleted) when the block ends, however it ends. The upload slot is held for the whole
        block, so decoding and storing count towards ``max_uploads`` too."""
        if self.active >= self.max_uploads:
            raise busy(f"with {self.active} other photos")
        self.active += 1
        try:
            spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115 (closed in the finally below)
                max_size=SPOOL_BYTES, dir=str(self.tmp_dir), prefix="upload-"
            )
            try:
                try:
                    async with asyncio.timeout(self.settings.upload_timeout_s):
                        form = await self._read(request, spool)
                except TimeoutError:
                    raise ApiError(
                        408,
                        "timeout",
                        f"the photo did not arrive within {self.settings.upload_timeout_s} "
                        "seconds; check the connection and send it again",
                    ) from None
                yield form
            finally:
                spool.close()
        finally:
            self.active -= 1

    async def _read(self, request: web.Request, spool: IO[bytes]) -> CaptureForm:
        mb = self.settings.max_upload_mb
        too_large = ApiError(413, "too_large", f"the photo is larger than {mb} MB")
        if request.content_length is not None and request.content_length > self.body_limit:
            raise too_large
        if not request.content_type.startswith("multipart/"):
            raise ApiError(
                400, "bad_request", "send the photo as multipart/form-data in a field named 'photo'"
            )
        body = request.content

        def check_total() -> None:
            # Bytes received so far, after any Content-Encoding: a compressed bomb counts at
            # its real size.
            if body.total_bytes > self.body_limit:
                raise too_large

        async def next_part(reader: Any) -> Any:
            # Finding the next part reads (and drops) whatever comes before its boundary, as
            # much as the client sends: a body whose boundary never comes is capped here.
            finding = asyncio.ensure_future(reader.next())
            try:
                while not finding.done():
                    await asyncio.wait([finding], timeout=CAP_CHECK_S)
                    check_total()
            finally:
                finding.cancel()
            return finding.result()

        form = CaptureForm(photo=spool, photo_bytes=0)
        photo_seen = False
        try:
            reader = await request.multipart()
            for _ in range(MAX_PARTS + 1):
                part = await next_part(reader)
                check_total()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    raise ApiError(400, "bad_request", "nested multipart forms are not accepted")
                name = part.name  # the file name is never used: files are named by id
                if name == "photo":
                    if photo_seen:
                        raise ApiError(400, "bad_request", "send one photo per capture")
                    photo_seen = True
                    while chunk := await part.read_chunk(CHUNK):
                        form.photo_bytes += len(chunk)
                        if form.photo_bytes > mb * 1024 * 1024:
                            raise too_large
                        check_total()
                        # A write to the page cache: microseconds, not worth a thread hop.
                        spool.write(chunk)
                elif name in TEXT_FIELDS:
                    data = await part.read_chunk(FIELD_LIMIT + 1)
                    if len(data) > FIELD_LIMIT or await part.read_chunk(1):
                        raise ApiError(400, "bad_request", f"the field {name!r} is too long")
                    form.fields[name] = data.decode("utf-8", "replace").strip()
                else:  # unknown fields are read and dropped, within the body limit
                    while await part.read_chunk(CHUNK):
                        check_total()
            else:
                raise ApiError(
                    400, "bad_request", f"too many form fields: a capture has at most {MAX_PARTS}"
                )
        except (ValueError, HttpProcessingError) as exc:
            # aiohttp's multipart parser: no or a bad boundary, a part header with a NUL or
            # no colon, a body that ends early. The client sent a broken form: 400, not 500.
            raise ApiError(
                400, "bad_request", f"the upload is not a well-formed multipart form ({_why(exc)})"
            ) from None
        if not photo_seen:
            raise ApiError(400, "bad_image", "no photo: send the image in a field named 'photo'")
        spool.seek(0)
        return form

    async def decode(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the decode executor, when a slot is free within ``decode_wait_s``;
        else 503. A slot is given back when the call has finished on its thread (not when the
        request goes away), so no more than ``DECODE_SLOTS`` decodes ever run."""
        try:
            async with asyncio.timeout(self.decode_wait_s):
                await self._slots.acquire()
        except TimeoutError:
            raise busy("decoding other photos") from None
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, lambda: fn(*args))
        future.add_done_callback(lambda _: self._slots.release())
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # The server is stopping: let the call finish first, so the caller's clean-up
            # never races a thread still writing the files it would remove.
            await asyncio.wait([future])
            raise

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def _why(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


MMAP_THRESHOLD = 1024 * 1024


def return_freed_pixels_to_the_system() -> bool:
    """Make glibc serve every allocation of ``MMAP_THRESHOLD`` or more with its own mapping,
    unmapped when freed. By default glibc raises that threshold to the largest block freed so
    far, so after one big photo Pillow's 16 MB pixel blocks come from the heap and stay in
    the process: measured with benchmarks/bench_uploads.py, 12 concurrent 24 MP photos left
    the server at 794 MB (from 270 MB at rest); with this, back to 278 MB. The same as
    ``MALLOC_MMAP_THRESHOLD_=1048576`` in the environment. False where there is no glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False


async def upload_gate(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx`` of the app: the gate and its decode threads live from startup to
    cleanup; large freed buffers go back to the system (see above)."""
    return_freed_pixels_to_the_system()
    gate = UploadGate(app[keys.SETTINGS])
    app[keys.UPLOADS] = gate
    yield
    await asyncio.to_thread(gate.close)

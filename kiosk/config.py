"""Settings, declared once: each is a field of ``Settings`` with its help text beside it.

Values come from the field's default, then a TOML file (``stylebooth.toml`` in the working
directory, or the one named by ``--config`` / ``STYLEBOOTH_CONFIG``), then environment
variables (``STYLEBOOTH_`` + the name in capitals), then command-line flags. A value's type is
the field's annotation; a Literal's values are its choices. Everything is checked here, at
load: a key the file does not know, a value of the wrong type, an ``[hq_options]`` table the
style engine would refuse are a ``ConfigError`` naming the key, so a typo stops
``stylebooth serve`` at start instead of failing every guest's painting later.

The README's configuration table is generated from the same fields (``readme_table``;
``stylebooth config --readme`` writes it) and a test fails when it is stale.
"""

from __future__ import annotations

import difflib
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from render.errors import StyleBoothError

ENV_PREFIX = "STYLEBOOTH_"
DEFAULT_CONFIG_FILE = Path("stylebooth.toml")
README_START, README_END = "<!-- config:start -->", "<!-- config:end -->"


class ConfigError(StyleBoothError, code="bad_config"):
    """The configuration file or an environment variable has a bad value."""


def setting(default: Any, help: str, *, shown: str | None = None, env: bool = True) -> Any:
    """A field of ``Settings``: its default; ``help``, its line in the README table; ``shown``,
    its default as the table writes it (when the value alone would mislead); ``env``, whether
    an environment variable sets it (a table such as ``[hq_options]`` only comes from the
    file). A table's default is copied for each ``Settings``. (Ruff's RUF009 cannot see that
    this returns a ``dataclasses.field``: hence its ``noqa`` where a field's type is mutable.)"""
    metadata = {"help": help, "shown": shown, "env": env}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = setting(Path("data"), "database, captures, renders, exports", shown="`./data`")
    model_dir: Path | None = setting(None, "model cache", shown="`DATA_DIR/models`")
    database_url: str | None = setting(
        None,
        "any SQLAlchemy URL; SQLite runs in WAL mode",
        shown="`sqlite:///DATA_DIR/stylebooth.sqlite3`",
    )
    storage_url: str | None = setting(
        None,
        "where every photo, painting and print file lives: a directory, or "
        "`s3://bucket/prefix` (endpoint, region and keys from `AWS_ENDPOINT_URL`, "
        "`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`)",
        shown="`DATA_DIR`",
    )
    booth_id: str = setting(
        "booth", "this booth's name: its captures carry it, the admin page counts per booth"
    )
    runtime_dir: Path | None = setting(
        None,
        "this host's own directory for device locks (never shared storage)",
        shown="`DATA_DIR/run`",
    )
    worker_lanes: str = setting(
        "fast,hq,print",
        "the lanes a render worker takes jobs from, comma-separated (`fast`, `hq`, `print`)",
    )
    device_slots: int = setting(
        1, "HQ and print renders a worker host runs at once on one device (a big GPU: 2–4)"
    )
    host: str = setting("127.0.0.1", "bind address")
    port: int = setting(8080, "port")
    device: Literal["auto", "cpu", "cuda"] = setting("auto", "`auto`, `cpu` or `cuda`")
    admin_password: str | None = setting(None, "admin page password (unset: admin page off)")
    event_name: str = setting("StyleBooth", "shown on the attract screen")
    public_url: str | None = setting(
        None,
        "base URL phones reach the booth at (the QR code's download link); unset: this "
        "machine's LAN address at `PORT`, or the bind address when it names one network "
        "address (never loopback, never the request's `Host` header)",
        shown="from the bind address",
    )
    printer: str | None = setting(
        None,
        "the CUPS queue on-site photo prints go to (`lpstat -p` lists them); unset: the "
        "booth offers no photo prints",
    )
    cups_server: str | None = setting(
        None,
        "the CUPS server holding `PRINTER`, `host:port` (unset: `CUPS_SERVER`, else this "
        "machine's CUPS at localhost:631)",
        shown="localhost:631",
    )
    print_copies_max: int = setting(
        2, "most copies of a photo print a guest may ask for at once (1 to 4)"
    )
    max_upload_mb: int = setting(20, "largest photo upload; larger is refused with 413")
    idle_timeout_s: int = setting(
        60, "seconds without a touch before the booth goes back to attract"
    )
    countdown_s: int = setting(3, "camera countdown")
    fast_size: int = setting(640, "long side of the instant (fast) picture, pixels")
    hq_size: int = setting(512, "long side of the high-quality painting, pixels")
    hq_budget_s: int = setting(90, "time budget of one HQ render; the best painting so far is kept")
    worker_lease_s: int = setting(
        10,
        "a render worker's lease: it beats its row in the workers table three times per "
        "lease, and one whose lease ran out (by the database's clock) is given up on: not "
        "counted on /healthz, and its running job is run again",
    )
    admin_host: str | None = setting(
        None, "with `ADMIN_PORT`: the address of the admin page's own site (unset: `HOST`)"
    )
    admin_port: int | None = setting(
        None,
        "serve the admin page only on this port (its own site); the guests' site then "
        "answers 404 for `/admin`",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = setting(
        "INFO",
        "`DEBUG`, `INFO`, `WARNING` or `ERROR` (stderr; the access log, whose URLs carry "
        "tokens, only at `DEBUG`)",
    )
    min_free_mb: int = setting(
        500,
        "below this much free space in the data directory new photos are refused (507) "
        "and `/healthz` is degraded",
    )
    upload_timeout_s: int = setting(30, "a photo upload must arrive within this many seconds (408)")
    max_uploads: int = setting(
        4, "photo uploads read and stored at once; one more gets 503 with Retry-After"
    )
    max_job_sockets: int = setting(
        8, "live WebSockets on one job; more get 429 (the booth polls instead)"
    )
    max_sockets: int = setting(200, "live job WebSockets in all; more get 503")
    busy_timeout_s: int = setting(
        5,
        "how long a guest's request waits for a database another process holds locked "
        "before it is answered 503 with Retry-After (SQLite's busy timeout)",
    )
    tee_dpi: int = setting(
        150,
        "resolution a T-shirt's art is painted at for an order, at print size (12×16 in): "
        "150 is the print shops' minimum, 300 their recommendation (for a GPU kiosk); "
        "stickers and mugs are always 300",
    )
    print_scale_percent: int = setting(
        100,
        "every print size (and the preflight's DPI floor with it) at this percentage: "
        "for tests and trials only (e.g. `10`); a booth that sells prints keeps `100`",
    )
    hq_options: dict[str, Any] = setting(
        {},
        "style engine options for every HQ job (`steps = 60`, `style_weight = 10`, …: "
        "the fields of `render.options.GatysOptions`), checked at load",
        shown="none",
        env=False,
    )

    def __post_init__(self) -> None:
        # Out of these ranges every tee order would fail its preflight (below 150 DPI) or be
        # painted larger than a print shop takes (over 300), or no print would be sized.
        for key, low, high in (
            ("tee_dpi", 150, 300),
            ("print_scale_percent", 1, 100),
            ("worker_lease_s", 2, 600),
            ("print_copies_max", 1, 4),  # beaten 3× per lease: under 2 s is a busy database
        ):
            if not low <= getattr(self, key) <= high:
                raise ConfigError(f"{key}: a whole number from {low} to {high}")
        unknown = set(self.lanes) - {"fast", "hq", "print"}
        if unknown or not self.lanes:
            raise ConfigError(f"worker_lanes: some of fast, hq, print; got {self.worker_lanes!r}")
        if not 1 <= self.device_slots <= 16:
            raise ConfigError("device_slots: a whole number from 1 to 16")
        if not self.booth_id.strip() or len(self.booth_id) > 64:  # captures.booth_id VARCHAR(64)
            raise ConfigError(f"booth_id: a name of 1 to 64 characters, got {self.booth_id!r}")
        url = self.storage_url or ""
        if "://" in url and not url.startswith(("s3://", "file://")):
            raise ConfigError(f"storage_url: a directory or s3://bucket/prefix, got {url!r}")

    @property
    def runtime(self) -> Path:
        """This host's runtime directory (device locks)."""
        return self.runtime_dir if self.runtime_dir is not None else self.data_dir / "run"

    @property
    def lanes(self) -> tuple[str, ...]:
        """``worker_lanes`` as a tuple, in the order given."""
        return tuple(lane.strip() for lane in self.worker_lanes.split(",") if lane.strip())

    @property
    def models(self) -> Path:
        return self.model_dir if self.model_dir is not None else self.data_dir / "models"

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'stylebooth.sqlite3').resolve()}"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def load_settings(
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build settings from defaults, then the TOML file, then the environment, then overrides
    (the command line's flags; None means not given). Raises ``ConfigError`` naming the key.
    Environment variables of no setting are left alone (``STYLEBOOTH_SHARED_DATA`` is the
    tests'); a key in the file that is no setting is an error."""
    env = os.environ if env is None else env
    path = config_file
    if path is None and env.get(f"{ENV_PREFIX}CONFIG"):
        path = Path(env[f"{ENV_PREFIX}CONFIG"])
    if path is None and DEFAULT_CONFIG_FILE.is_file():
        path = DEFAULT_CONFIG_FILE
    values: dict[str, Any] = {}
    if path is not None:
        for key, raw in _read_toml(Path(path)).items():
            if key not in _FIELDS:
                raise ConfigError(f"{path}: {_unknown(key)}")
            values[key] = _coerce(f"{path}: {key}", raw, key)
    for key, spec in _FIELDS.items():
        name = f"{ENV_PREFIX}{key.upper()}"
        if spec.metadata["env"] and env.get(name):
            values[key] = _coerce(name, env[name], key)
    for key, raw in overrides.items():
        if key not in _FIELDS:
            raise TypeError(f"load_settings() got an unknown setting {key!r}")
        if raw is not None:
            values[key] = _coerce(key, raw, key)
    return Settings(**values)


def readme_table() -> str:
    """The README's configuration table, one row per setting, from the fields themselves."""
    rows = [
        "| variable | default | meaning |",
        "| --- | --- | --- |",
        f"| `{ENV_PREFIX}CONFIG` | `./{DEFAULT_CONFIG_FILE}` if present | settings file |",
    ]
    for spec in fields(Settings):
        name = f"`{ENV_PREFIX}{spec.name.upper()}`" if spec.metadata["env"] else None
        name = name or f"`[{spec.name}]` (TOML table only)"
        rows.append(f"| {name} | {_shown_default(spec)} | {spec.metadata['help']} |")
    return "\n".join(rows)


def write_readme(readme: Path) -> bool:
    """Put ``readme_table()`` between the README's config markers; whether it changed."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise ConfigError(f"{readme}: no {README_START} … {README_END} markers to write between")
    head, rest = text.split(README_START, 1)
    new = f"{head}{README_START}\n{readme_table()}\n{README_END}{rest.split(README_END, 1)[1]}"
    if new == text:
        return False
    readme.write_text(new)
    return True


# --- reading and checking values --------------------------------------------------------------


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def _unknown(key: str) -> str:
    close = difflib.get_close_matches(key, list(_FIELDS), n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(_FIELDS)}"
    return f"unknown setting {key!r} ({hint})"


def _coerce(where: str, raw: Any, key: str) -> Any:
    """Setting ``key``'s value from ``raw``, checked; ``where`` names it in a message."""
    if key == "hq_options":
        return _hq_options(where, raw)
    return _convert(where, raw, _HINTS[key])


def _convert(where: str, raw: Any, hint: Any) -> Any:
    """``raw`` (a TOML value, an environment variable's text, a flag) as type ``hint``, or a
    ``ConfigError`` that says what ``where`` expects. The types the settings use: str, int,
    Path, Literal (its values, any case) and X | None."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):  # X | None: a value given is an X
        (hint,) = (arg for arg in args if arg is not type(None))
        return _convert(where, raw, hint)
    if origin is Literal:
        for choice in args:
            if str(raw).lower() == str(choice).lower():
                return choice
        raise ConfigError(f"{where}: one of {', '.join(map(str, args))}, got {raw!r}")
    if hint is int:
        try:
            number = int(raw.strip()) if isinstance(raw, str) else raw
        except ValueError:
            number = None
        if isinstance(number, int) and not isinstance(number, bool):  # TOML's true is no number
            return number
        raise ConfigError(f"{where}: a whole number, got {raw!r}")
    if hint is Path and isinstance(raw, str | Path):
        return Path(raw).expanduser()
    if hint is str and isinstance(raw, str | int | float) and not isinstance(raw, bool):
        return str(raw)
    raise ConfigError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {raw!r}")


def _hq_options(where: str, raw: Any) -> dict[str, Any]:
    """The ``[hq_options]`` table, checked by the style engine's own
    ``GatysOptions.from_mapping`` (torch-free, ``render.options``): every key one of its
    fields, every value of that field's type and the whole accepted by its own checks. Kept
    as given (plain TOML values): it is what each HQ job stores."""
    from render.options import GatysOptions, OptionError

    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a table of style engine options, got {raw!r}")
    try:
        GatysOptions.from_mapping(raw)
    except OptionError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return dict(raw)


def _shown_default(spec: Field[Any]) -> str:
    if spec.metadata["shown"]:
        return str(spec.metadata["shown"])
    default = spec.default if spec.default is not MISSING else None
    return "unset" if default is None else f"`{default}`"


_FIELDS: dict[str, Field[Any]] = {spec.name: spec for spec in fields(Settings)}
_HINTS: dict[str, Any] = typing.get_type_hints(Settings)

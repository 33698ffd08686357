"""Settings: defaults, overridden by a TOML file, overridden by environment variables.

Environment variables (all optional):

    STYLEBOOTH_CONFIG          path of a TOML file (default: ./stylebooth.toml if present)
    STYLEBOOTH_DATA_DIR        data directory: database, captures, renders, exports (./data)
    STYLEBOOTH_MODEL_DIR       model cache (DATA_DIR/models)
    STYLEBOOTH_DATABASE_URL    any SQLAlchemy URL (sqlite:///DATA_DIR/stylebooth.sqlite3)
    STYLEBOOTH_HOST            bind address (127.0.0.1)
    STYLEBOOTH_PORT            port (8080)
    STYLEBOOTH_DEVICE          auto | cpu | cuda (auto)
    STYLEBOOTH_ADMIN_PASSWORD  password of the admin page (unset: admin page disabled)
    STYLEBOOTH_EVENT_NAME      shown on the attract screen
    STYLEBOOTH_PUBLIC_URL      base URL phones reach the booth at, for QR codes (the booth's own)
    STYLEBOOTH_MAX_UPLOAD_MB   largest photo upload in megabytes (20)
    STYLEBOOTH_IDLE_TIMEOUT_S  seconds without a touch before the booth returns to attract (60)
    STYLEBOOTH_COUNTDOWN_S     camera countdown seconds (3)
    STYLEBOOTH_FAST_SIZE       long side of the instant (fast) picture in pixels (640)
    STYLEBOOTH_HQ_SIZE         long side of the high-quality painting in pixels (512)
    STYLEBOOTH_HQ_BUDGET_S     time budget of one HQ render; the best image so far is kept (90)
    STYLEBOOTH_STALE_AFTER_S   a running job without a heartbeat for this long is requeued (30)
    STYLEBOOTH_ADMIN_HOST      bind address of the admin page when it has its own (unset: same)
    STYLEBOOTH_ADMIN_PORT      port of the admin page when it has its own (unset: same server)
    STYLEBOOTH_LOG_LEVEL       DEBUG | INFO | WARNING | ERROR (INFO)
    STYLEBOOTH_MIN_FREE_MB     new captures are refused below this much free disk (500)
    STYLEBOOTH_UPLOAD_TIMEOUT_S  a photo upload must arrive within this many seconds (30)
    STYLEBOOTH_MAX_UPLOADS     photo uploads read and stored at once; more get 503 (4)
    STYLEBOOTH_MAX_JOB_SOCKETS live job WebSockets on one job; more are refused, 429 (8)
    STYLEBOOTH_MAX_SOCKETS     live job WebSockets in all; more are refused, 503 (200)
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from render.errors import StyleBoothError

ENV_PREFIX = "STYLEBOOTH_"
DEFAULT_CONFIG_FILE = Path("stylebooth.toml")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(StyleBoothError):
    """The configuration file or an environment variable has a bad value."""

    code = "bad_config"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    model_dir: Path | None = None
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    device: str = "auto"
    admin_password: str | None = None
    event_name: str = "StyleBooth"
    public_url: str | None = None
    max_upload_mb: int = 20
    idle_timeout_s: int = 60
    countdown_s: int = 3
    fast_size: int = 640
    hq_size: int = 512
    hq_budget_s: int = 90
    stale_after_s: int = 30
    admin_host: str | None = None
    admin_port: int | None = None
    log_level: str = "INFO"
    min_free_mb: int = 500
    upload_timeout_s: int = 30  # the whole upload body's deadline (kiosk/uploads.py)
    max_uploads: int = 4  # captures read and stored at once (kiosk/uploads.py)
    max_job_sockets: int = 8
    max_sockets: int = 200
    extra: dict[str, Any] = field(default_factory=dict)

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


def _coerce(name: str, raw: Any, kind: type) -> Any:
    try:
        if kind is int:
            return int(raw)
        if kind is Path:
            return Path(str(raw)).expanduser()
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: expected {kind.__name__}, got {raw!r}") from exc


_TYPES: dict[str, type] = {
    "data_dir": Path,
    "model_dir": Path,
    "database_url": str,
    "host": str,
    "port": int,
    "device": str,
    "admin_password": str,
    "event_name": str,
    "public_url": str,
    "max_upload_mb": int,
    "idle_timeout_s": int,
    "countdown_s": int,
    "fast_size": int,
    "hq_size": int,
    "hq_budget_s": int,
    "stale_after_s": int,
    "admin_host": str,
    "admin_port": int,
    "log_level": str,
    "min_free_mb": int,
    "upload_timeout_s": int,
    "max_uploads": int,
    "max_job_sockets": int,
    "max_sockets": int,
}


def load_settings(
    config_file: Path | None = None,
    env: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build settings from defaults, then the TOML file, then the environment, then overrides."""
    env = dict(os.environ) if env is None else env
    values: dict[str, Any] = {}
    path = config_file
    if path is None and env.get(f"{ENV_PREFIX}CONFIG"):
        path = Path(env[f"{ENV_PREFIX}CONFIG"])
    if path is None and DEFAULT_CONFIG_FILE.is_file():
        path = DEFAULT_CONFIG_FILE
    extra: dict[str, Any] = {}
    if path is not None:
        try:
            table = tomllib.loads(Path(path).read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        for key, raw in table.items():
            if key in _TYPES:
                values[key] = _coerce(f"{path}: {key}", raw, _TYPES[key])
            else:
                extra[key] = raw
    for key, kind in _TYPES.items():
        name = f"{ENV_PREFIX}{key.upper()}"
        if env.get(name):
            values[key] = _coerce(name, env[name], kind)
    for key, raw in overrides.items():
        if raw is not None:
            values[key] = _coerce(key, raw, _TYPES[key])
    if values.get("device", "auto") not in {"auto", "cpu", "cuda"}:
        raise ConfigError(f"device must be auto, cpu or cuda, got {values['device']!r}")
    level = str(values.get("log_level", "INFO")).upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    values["log_level"] = level
    return Settings(**values, extra=extra)

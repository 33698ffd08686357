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
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "STYLEBOOTH_"
DEFAULT_CONFIG_FILE = Path("stylebooth.toml")


class ConfigError(ValueError):
    """The configuration file or an environment variable has a bad value."""


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
    return Settings(**values, extra=extra)

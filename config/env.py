"""Typed helpers for reading settings from the environment.

Development keeps generated secrets and the addresses of the embedded services under
``.local/`` so that a fresh clone works with no configuration at all.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_DIR = Path(os.environ.get("PSA_LOCAL_DIR", BASE_DIR / ".local"))
SERVICES_FILE = LOCAL_DIR / "devservices.json"


def envstr(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def envint(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def envfloat(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None


def envlist(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def envchoice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name) or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def local_secret(filename: str, generate: Any) -> str:
    """Read a development secret kept under .local/, creating it on first use.

    ``generate`` is a zero-argument callable producing the secret. The file is created with
    mode 0600 and atomically, so two processes starting at once agree on one value.
    """
    path = LOCAL_DIR / filename
    if path.exists():
        return path.read_text().strip()
    LOCAL_DIR.mkdir(parents=True, exist_ok=True)
    value = str(generate())
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    try:
        # link() fails if another process won the race; then we read its value.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def generate_secret_key() -> str:
    return secrets.token_urlsafe(64)


def generate_fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def embedded_services() -> dict[str, Any]:
    """What ``manage.py devservices up`` recorded: ports and passwords of the embedded servers."""
    try:
        return dict(json.loads(SERVICES_FILE.read_text()))
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"{SERVICES_FILE.name} is damaged ({exc}); run 'make services-reset'") from exc


def embedded_database_url(services: dict[str, Any]) -> str:
    """The URL of the embedded PostgreSQL, or "" when ``devservices up`` has not run yet."""
    pg = services.get("postgres")
    if not pg:
        return ""
    return f"postgresql://{pg['user']}:{pg['password']}@127.0.0.1:{pg['port']}/{pg['database']}"


def embedded_redis_url(services: dict[str, Any]) -> str:
    """The URL of the embedded Redis, or "" when ``devservices up`` has not run yet."""
    rd = services.get("redis")
    if not rd:
        return ""
    return f"redis://:{rd['password']}@127.0.0.1:{rd['port']}/0"


def redis_url_with_db(url: str, db: int) -> str:
    """The same Redis server, another logical database."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))

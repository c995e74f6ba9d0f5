"""Encryption at rest for credentials: MultiFernet keyed by FIELD_ENCRYPTION_KEYS.

The first key encrypts; every key decrypts, so a new key is put first, ``rotate_encryption_keys``
re-encrypts the rows, and the old key is then removed. SECRET_KEY is never used here.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed
from django.db import models


class DecryptionError(Exception):
    """The value was encrypted with a key that is no longer in FIELD_ENCRYPTION_KEYS."""


@lru_cache(maxsize=1)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def _reset_cache(setting: str = "", **_: Any) -> None:
    if setting == "FIELD_ENCRYPTION_KEYS":
        _fernet.cache_clear()


setting_changed.connect(_reset_cache)


def encrypt_json(value: Any) -> str:
    return fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> Any:
    try:
        return json.loads(fernet().decrypt(token.encode()))
    except InvalidToken:
        raise DecryptionError("A stored secret cannot be decrypted with the configured keys.") from None


def rotate_token(token: str) -> str:
    return fernet().rotate(token.encode()).decode()


class EncryptedJSONField(models.TextField):
    """A JSON value stored as a Fernet token; Python code only ever sees the decrypted value."""

    description = "JSON encrypted at rest"
    # What django-stubs reads as the Python type of the field: any JSON value, not str.
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return None if value is None else {}
        return decrypt_json(value)

    def to_python(self, value: Any) -> Any:
        return value

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        return encrypt_json(value)

    def value_to_string(self, obj: Any) -> str:
        # Never serialise secrets in dumps and fixtures.
        return ""

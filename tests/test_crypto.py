"""Credentials at rest: encrypted with FIELD_ENCRYPTION_KEYS, rotatable without downtime."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from config.crypto import DecryptionError, decrypt_json, encrypt_json
from datasources.models import DataSource

pytestmark = pytest.mark.django_db


def stored_token(source: DataSource) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM datasources_datasource WHERE id = %s", [source.pk])
        return cursor.fetchone()[0]


def test_values_round_trip_and_tokens_differ_each_time():
    assert decrypt_json(encrypt_json({"password": "s3cret"})) == {"password": "s3cret"}
    assert encrypt_json({"a": 1}) != encrypt_json({"a": 1})


def test_rotation_re_encrypts_with_the_new_key_so_the_old_one_can_go(tenancy, settings):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    source = DataSource.objects.create(
        workspace=tenancy.acme, name="Warehouse", kind="postgresql", secrets={"password": "s3cret"}
    )
    before = stored_token(source)

    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert DataSource.objects.get(pk=source.pk).secrets == {"password": "s3cret"}  # old tokens still read
    call_command("rotate_encryption_keys", verbosity=0)
    after = stored_token(source)
    assert after != before
    Fernet(new_key).decrypt(after.encode())  # now under the new key

    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert DataSource.objects.get(pk=source.pk).secrets == {"password": "s3cret"}


def test_a_token_from_an_unknown_key_is_a_clear_error(settings):
    token = encrypt_json({"password": "x"})
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError):
        decrypt_json(token)

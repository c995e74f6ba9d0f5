from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from config.crypto import EncryptedJSONField, rotate_token


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted field with the first key of FIELD_ENCRYPTION_KEYS. Put the new key first, "
        "run this, then drop the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        for model in apps.get_models():
            fields = [f for f in model._meta.get_fields() if isinstance(f, EncryptedJSONField)]
            for field in fields:
                table, column = model._meta.db_table, str(field.column)
                assert model._meta.pk is not None and model._meta.pk.column is not None
                pk = model._meta.pk.column
                with transaction.atomic(), connection.cursor() as cursor:
                    qn = connection.ops.quote_name
                    cursor.execute(
                        f"SELECT {qn(pk)}, {qn(column)} FROM {qn(table)} WHERE {qn(column)} <> '' FOR UPDATE"  # noqa: S608
                    )
                    rows = cursor.fetchall()
                    for key, token in rows:
                        cursor.execute(
                            f"UPDATE {qn(table)} SET {qn(column)} = %s WHERE {qn(pk)} = %s",  # noqa: S608
                            [rotate_token(token), key],
                        )
                    total += len(rows)
                self.stdout.write(f"{model._meta.label}.{field.name}: {len(rows)} value(s) re-encrypted")
        self.stdout.write(f"done: {total} value(s)")

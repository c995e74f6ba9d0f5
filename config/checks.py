"""System checks that explain a misconfiguration in one sentence, with the fix."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, register


@register()
def embedded_services_started(app_configs: Any, **kwargs: Any) -> list[Error]:
    return [
        Error(
            f"{name} is not set and the embedded service has not been started.",
            hint="Run 'python manage.py devservices up' (make run and make test do it), or set " + name + ".",
            id="psa.E001",
        )
        for name in settings.EMBEDDED_SERVICES_MISSING
    ]


@register()
def encryption_keys_valid(app_configs: Any, **kwargs: Any) -> list[Error]:
    errors = []
    for index, key in enumerate(settings.FIELD_ENCRYPTION_KEYS):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            errors.append(
                Error(
                    f"FIELD_ENCRYPTION_KEYS entry {index + 1} is not a valid Fernet key.",
                    hint="Generate one with: python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'",
                    id="psa.E002",
                )
            )
    return errors

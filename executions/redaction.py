"""Secret values never leave the execution's encrypted fields: events, interaction details and
anything shown to people get ``***`` instead."""

from __future__ import annotations

import re
from typing import Any

_SECRET_KEY = re.compile(r"secret|password|passwd|token|api[_-]?key|credential|private[_-]?key", re.IGNORECASE)
REDACTED = "***"


def redacted(value: Any) -> Any:
    """A copy of a JSON value with the values of secret-looking keys replaced."""
    if isinstance(value, dict):
        return {key: REDACTED if _SECRET_KEY.search(str(key)) and item not in (None, "", {}) else redacted(item)
                for key, item in value.items()}  # fmt: skip
    if isinstance(value, list):
        return [redacted(item) for item in value]
    return value

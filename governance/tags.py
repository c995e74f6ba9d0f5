"""The tag vocabulary: the built-in personal-data tags, a workspace's own tags, and how a tag
policy's table condition (``pii.*``) matches tags."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

BUILTIN_TAGS: Mapping[str, str] = {
    "pii.email": "E-mail address",
    "pii.phone": "Phone number",
    "pii.person_name": "Person's name",
    "pii.address": "Postal address",
    "pii.date_of_birth": "Date of birth",
    "pii.national_id": "National identity number",
    "pii.card_number": "Payment card number",
    "pii.iban": "Bank account (IBAN)",
    "pii.ip_address": "IP address",
}
PERSONAL_TAGS: frozenset[str] = frozenset(BUILTIN_TAGS)

TAG_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
TAG_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*(\.\*)?$")
MAX_TAG_CHARS = 64


def tag_matches(pattern: str, tag: str) -> bool:
    """``pii.*`` matches every tag under ``pii.``; any other pattern matches itself."""
    if pattern.endswith(".*"):
        return tag.startswith(pattern[:-1])
    return tag == pattern


def any_tag_matches(patterns: Iterable[str], tags: Iterable[str]) -> bool:
    tags = tuple(tags)
    return any(tag_matches(pattern, tag) for pattern in patterns for tag in tags)

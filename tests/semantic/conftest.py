"""The demo PostgreSQL source of the executions tests, for the end-to-end test of verified queries."""

from __future__ import annotations

from tests.executions.conftest import postgres_demo_source  # noqa: F401  (a fixture)

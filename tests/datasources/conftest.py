"""The data source fixtures live in tests/conftest.py; re-exported for modules that import them from here."""

from tests.conftest import demo_files, files_root, postgres_settings, sqlite_source  # noqa: F401

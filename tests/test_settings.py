"""Settings: development needs nothing; production refuses to start without its secrets."""

from __future__ import annotations

import os
import subprocess
import sys

from cryptography.fernet import Fernet

from tests.conftest import ROOT

PRINT_KEYS = "import django; from django.conf import settings; django.setup(); print(settings.SECRET_KEY)"


def run(args, **env):
    base = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DJANGO_ENV"}}
    base.update({"DJANGO_SETTINGS_MODULE": "config.settings.base", **env})
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120)


def test_development_generates_a_secret_key_once_and_keeps_it(tmp_path):
    first = run(["-c", PRINT_KEYS], PSA_LOCAL_DIR=str(tmp_path))
    second = run(["-c", PRINT_KEYS], PSA_LOCAL_DIR=str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == second.stdout.strip()
    assert len(first.stdout.strip()) >= 50
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    Fernet((tmp_path / "field_encryption_key").read_text().strip())


def test_production_without_secrets_refuses_to_start_with_a_clear_message(tmp_path):
    result = run(["manage.py", "check"], DJANGO_ENV="production", PSA_LOCAL_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "DJANGO_ENV=production refuses to start without SECRET_KEY, FIELD_ENCRYPTION_KEYS" in result.stderr
    assert not (tmp_path / "secret_key").exists()


def test_production_with_secrets_passes_check_deploy(tmp_path):
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DJANGO_ENV="production",
        PSA_LOCAL_DIR=str(tmp_path),
        SECRET_KEY="k" * 20 + Fernet.generate_key().decode() + "Zq9!",
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode() + "," + Fernet.generate_key().decode(),
        DATABASE_URL="postgresql://psa:pw@db.internal:5432/psa",
        REDIS_URL="redis://cache.internal:6379/0",
        ALLOWED_HOSTS="studio.example.com",
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


def test_an_invalid_encryption_key_is_reported_by_the_checks(tmp_path):
    result = run(["manage.py", "check"], PSA_LOCAL_DIR=str(tmp_path), FIELD_ENCRYPTION_KEYS="not-a-key")
    assert result.returncode != 0
    assert "psa.E002" in result.stderr


def test_a_non_postgresql_database_is_refused(tmp_path):
    result = run(["manage.py", "check"], PSA_LOCAL_DIR=str(tmp_path), DATABASE_URL="sqlite:///db.sqlite3")
    assert result.returncode != 0
    assert "must point to PostgreSQL" in result.stderr


def test_product_settings_have_the_documented_defaults(settings):
    assert (settings.PSA_TIMEOUT_SECONDS, settings.PSA_RETRY_COUNT, settings.PSA_BACKOFF_COEFF) == (30, 3, 2.0)
    assert (settings.TLO_MAX_MATCHED_TABLES, settings.MAX_LOOP_COUNT) == (10, 10)
    assert (settings.WS_PING_INTERVAL, settings.WS_MAX_CONNECTIONS_PER_EXECUTION) == (30, 5)
    assert (settings.ROUTING_STRATEGY, settings.MODEL_PER_TURN, settings.SAFETY_LEVEL) == ("balanced", True, "strict")


def test_a_malformed_setting_names_the_variable(tmp_path):
    result = run(["manage.py", "check"], PSA_LOCAL_DIR=str(tmp_path), MAX_LOOP_COUNT="lots")
    assert result.returncode != 0
    assert "MAX_LOOP_COUNT must be an integer, got 'lots'" in result.stderr

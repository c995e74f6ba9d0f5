"""Browser tests: Playwright driving Debian's Chromium (headless, no browser download) against the
real ASGI server, Celery worker, PostgreSQL and Redis of the run.

`make test` installs Chromium when it can (Debian, as root); elsewhere these tests skip and say
why. Screenshots land in ``test-output/screenshots/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-output" / "screenshots"

# How long a page may take to show what a step waits for (an execution through the worker).
TIMEOUT_MS = 30_000


# Package scope: Playwright's sync API keeps an event loop running in the main thread while it
# lives, which would make every later test's async_to_sync refuse to run.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    # Playwright's sync API runs an event loop in the test's thread; the ORM calls the tests make
    # themselves (set-up, assertions) are plain synchronous calls between page actions.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield from _browser()


def _browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (make install adds it with the dev extras)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium package (make test does, as root)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def new_page(browser: Any, live_server_url: str) -> Iterator[Any]:
    """``new_page()`` opens a page in a fresh browser context (its own cookies) on the live server;
    several in one test are several people."""
    contexts: list[Any] = []

    def open_page() -> Any:
        context = browser.new_context(base_url=live_server_url, accept_downloads=True)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Any) -> Any:
    return new_page()


def sign_in(page: Any, username: str, password: str = PASSWORD) -> None:
    """Through the real sign-in form, landing on the studio."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

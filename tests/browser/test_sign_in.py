"""Signing in and switching workspace in a real browser."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import sign_in
from tests.factories import make_member
from workspaces.models import Role

pytestmark = pytest.mark.django_db(transaction=True)


def test_ana_signs_in_and_switches_to_her_other_workspace(tenancy: Any, page: Any) -> None:
    from tests.factories import make_workspace

    marketing = make_workspace(organization=tenancy.acme.organization, name="Marketing")
    make_member(marketing, "ana", Role.VIEWER)

    sign_in(page, "ana")
    switcher = page.get_by_label("Workspace")
    assert switcher.input_value() == str(tenancy.acme.pk)
    assert page.get_by_text("analyst").first.is_visible()

    with page.expect_navigation():
        switcher.select_option(str(marketing.pk))
    assert page.get_by_label("Workspace").input_value() == str(marketing.pk)
    assert page.locator(".who").inner_text() == "ana · viewer"


def test_a_wrong_password_is_said_plainly(tenancy: Any, page: Any) -> None:
    sign_in_page = page
    sign_in_page.goto("/accounts/login/")
    sign_in_page.get_by_label("Username").fill("ana")
    sign_in_page.get_by_label("Password").fill("not her password")
    sign_in_page.get_by_role("button", name="Sign in").click()
    assert sign_in_page.get_by_role("alert").inner_text().startswith("Your username and password did not match")

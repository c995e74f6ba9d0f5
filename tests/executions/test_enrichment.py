"""What the model is told before the first turn: the catalog the prompt is about, as the member
sees it. A prompt that names no table still gets the sources' largest tables, never a hidden one."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache

from datasources.models import CatalogTable
from executions import services
from executions.services.turns import enrichment_context
from governance.models import TableVisibilityPolicy
from workspaces.models import Membership

pytestmark = pytest.mark.django_db


def context_for(tenancy: Any, source: Any, prompt: str) -> dict[str, Any]:
    request = services.ExecuteRequest(prompt_text=prompt, workspace_id=tenancy.acme.pk, ai_model="offline",
                                      selected_data_source_ids=[source.pk])  # fmt: skip
    execution = services.execution_create(user=tenancy.ana, request=request)
    membership = Membership.objects.select_related("user", "workspace").get(user=tenancy.ana, workspace=tenancy.acme)
    return enrichment_context(execution=execution, membership=membership)


def test_a_prompt_that_names_no_table_gets_the_largest_tables_the_member_may_see(tenancy, sqlite_source) -> None:
    cache.clear()
    largest = list(
        CatalogTable.objects.filter(datasource=sqlite_source).order_by("-row_estimate").values_list("name", flat=True)
    )
    TableVisibilityPolicy.objects.create(workspace=tenancy.acme, datasource=sqlite_source, name="Hidden",
                                         schema_name="main", table_name=largest[0],
                                         hidden_for_roles=["analyst"])  # fmt: skip

    tables = [table["name"] for table in context_for(tenancy, sqlite_source, "How many are there?")["tables"]]

    assert tables and largest[0] not in tables  # hidden from Ana, whatever its size
    assert set(tables) <= set(largest[1:6])
    # A prompt that names a table gets that table, as before.
    named = context_for(tenancy, sqlite_source, "How many customers do we have?")["tables"]
    assert named[0]["name"] == "billing_customers"

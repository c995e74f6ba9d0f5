"""The demo's policies that ``make run`` creates on the demo workspace (idempotent); the workspace
and its users are ``workspaces.demo``'s."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from datasources.models import DataSource
from governance import services
from workspaces.demo import DEMO_USERS
from workspaces.models import Role, Workspace

# What the demo shows of governance, on all three sources alike (the tags follow the data): the demo
# region tag marks regional columns; analysts and viewers see the personal data of their own region
# only (rows of tables holding personal data, filtered on their region column), with e-mails partly
# and phone numbers fully masked; owners and admins see everything. The demo's owner has reviewed
# the detected tags but dates of birth, which stay masked by default until someone does.
DEMO_TAG = "region"
DEMO_REVIEWED = frozenset({"pii.email", "pii.phone", "pii.person_name", "pii.card_number", DEMO_TAG})
DEMO_TAG_MASKS = (("Partial e-mail addresses", "pii.email", "partial"), ("Hidden phone numbers", "pii.phone", "redact"))
DEMO_TAG_FILTER = "Own region's personal data"
# The warehouse-only table policies of earlier versions of the demo, which the tag policies replace.
_OLD_TABLE_POLICIES = ("Own region only (billing.customers)", "Own region only (crm.contacts)",
                       "Mask billing.customers.email", "Mask billing.customers.phone", "Mask crm.contacts.email",
                       "Mask crm.contacts.phone")  # fmt: skip


def demo_tags_ensure(*, workspace: Workspace) -> None:
    """The demo's own tag, before its sources are read (the read detects it)."""
    from governance.classification import tag_create
    from governance.models import Tag

    if not Tag.objects.filter(workspace=workspace, name=DEMO_TAG).exists():
        tag_create(
            workspace_id=workspace.pk, name=DEMO_TAG, description="Acme's sales region of the row.",
            name_patterns=["region", "*_region"], values=["NA", "EMEA", "APAC", "LATAM"],
        )  # fmt: skip


@transaction.atomic
def demo_policies_ensure(*, workspace: Workspace, datasources: Sequence[DataSource]) -> int:
    """Creates the demo's tag policies once, and has the demo owner review the detected tags of
    the demo sources (only those nobody has reviewed); returns how many policies it created."""
    from django.contrib.auth import get_user_model

    from governance.classification import catalog_classify, column_tag_review
    from governance.models import ColumnMaskPolicy, ColumnTag, RowFilterPolicy, TagMaskPolicy, TagRowFilterPolicy

    demo_tags_ensure(workspace=workspace)
    RowFilterPolicy.objects.filter(workspace=workspace, name__in=_OLD_TABLE_POLICIES).delete()
    ColumnMaskPolicy.objects.filter(workspace=workspace, name__in=_OLD_TABLE_POLICIES).delete()
    created = 0
    for name, tag, strategy in DEMO_TAG_MASKS:
        if not TagMaskPolicy.objects.filter(workspace=workspace, name=name).exists():
            services.tag_mask_policy_create(workspace=workspace, tag=tag, strategy=strategy, name=name)
            created += 1
    if not TagRowFilterPolicy.objects.filter(workspace=workspace, name=DEMO_TAG_FILTER).exists():
        services.tag_row_filter_policy_create(
            workspace=workspace, tag=DEMO_TAG, predicate="{{ column }} = {{ user.region }}",
            roles=[Role.ANALYST, Role.VIEWER], table_tags=["pii.*"], name=DEMO_TAG_FILTER,
        )  # fmt: skip
        created += 1
    owner = get_user_model().objects.filter(username=DEMO_USERS[0].username).first()
    for datasource in datasources:
        if datasource.status != "ready":
            continue
        if not ColumnTag.objects.filter(datasource=datasource, tag=DEMO_TAG).exists():
            catalog_classify(datasource=datasource)  # read before the demo tag existed
        if owner is None:
            continue
        unreviewed = ColumnTag.objects.filter(datasource=datasource, state="detected", tag__in=DEMO_REVIEWED)
        for column_tag in unreviewed:
            column_tag_review(column_tag=column_tag, state="confirmed", user=owner)
    return created

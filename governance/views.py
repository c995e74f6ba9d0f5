"""Server-rendered pages of governance: the policies in force in the current workspace, said in
plain words, and its audit log with filters. For owners and admins (``manage_policies``); other
members get a 403, like the API."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.text import get_text_list
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from config.pages import day_bounds, workspace_page
from executions.services.people import DEFAULT_APPROVERS
from governance import selectors
from governance.models import (
    ApprovalRule,
    AuditEvent,
    ColumnMaskPolicy,
    MaskStrategy,
    RowFilterPolicy,
    TableVisibilityPolicy,
    TagMaskPolicy,
    TagRowFilterPolicy,
)
from workspaces.models import Membership, Role
from workspaces.selectors import access_workspace, workspace_members

EVENTS_PER_PAGE = 50
_ROLE_PLURAL: dict[str, str] = {
    Role.OWNER: "owners",
    Role.ADMIN: "admins",
    Role.ANALYST: "analysts",
    Role.VIEWER: "viewers",
}
_MASKED_AS: dict[str, str] = {
    MaskStrategy.REDACT: "replaced by ***",
    MaskStrategy.HASH: "replaced by a hash of the value",
    MaskStrategy.PARTIAL: "partly hidden (j***@example.com, ***1234)",
    MaskStrategy.NULL: "shown as empty (NULL)",
}
DECISIONS = [("", "Any decision"), ("allowed", "Allowed"), ("denied", "Denied"), ("needs_approval", "Needs approval")]


def _roles(roles: Sequence[str], conjunction: str = "and") -> str:
    return get_text_list([_ROLE_PLURAL.get(role, role) for role in roles], conjunction)


# --- policies in plain words -------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyLine:
    name: str
    sentence: SafeString
    enabled: bool
    admin_url: str


def _where(policy: RowFilterPolicy | ColumnMaskPolicy | TableVisibilityPolicy) -> SafeString:
    return format_html("<strong>{}</strong> · <code>{}</code>", policy.datasource.name, policy.qualified_table)


def _except(exempt: list[str]) -> str:
    return f", except {_roles(exempt)}" if exempt else ""


def describe_row_filter(policy: RowFilterPolicy) -> SafeString:
    audience = [_ROLE_PLURAL.get(role, role) for role in policy.roles]
    audience += [f"the group {group.name}" for group in policy.groups.all()]
    audience += [user.username for user in policy.users.all()]
    who = get_text_list(audience, "and") if audience else "everyone"
    attribute_note = ""
    if "{{" in policy.predicate:
        attribute_note = " ({{ user.… }} is each member's own attribute, set on their membership)"
    return format_html(
        "In {}, {}{} see only the rows where <code>{}</code>{}.",
        _where(policy), who, _except(policy.exempt_roles), policy.predicate, attribute_note,
    )  # fmt: skip


def describe_column_mask(policy: ColumnMaskPolicy) -> SafeString:
    if policy.strategy == MaskStrategy.HIDE:
        return format_html(
            "In {}, the column <code>{}</code> is hidden from everyone{}.",
            _where(policy), policy.column_name, _except(policy.exempt_roles),
        )  # fmt: skip
    return format_html(
        "In {}, the values of <code>{}</code> are {} for everyone{}.",
        _where(policy), policy.column_name, _MASKED_AS.get(policy.strategy, policy.strategy),
        _except(policy.exempt_roles),
    )  # fmt: skip


def _tables_with(policy: TagMaskPolicy | TagRowFilterPolicy) -> str:
    if not policy.table_tags:
        return ""
    return f" (only in tables with a column tagged {get_text_list(list(policy.table_tags), 'or')})"


def describe_tag_mask(policy: TagMaskPolicy) -> SafeString:
    who = _roles(policy.roles) if policy.roles else "everyone"
    if policy.strategy == MaskStrategy.HIDE:
        return format_html(
            "Every column tagged <code>{}</code>, on every data source{}, is hidden from {}{}.",
            policy.tag, _tables_with(policy), who, _except(policy.exempt_roles),
        )  # fmt: skip
    return format_html(
        "The values of every column tagged <code>{}</code>, on every data source{}, are {} for {}{}.",
        policy.tag, _tables_with(policy), _MASKED_AS.get(policy.strategy, policy.strategy), who,
        _except(policy.exempt_roles),
    )  # fmt: skip


def describe_tag_row_filter(policy: TagRowFilterPolicy) -> SafeString:
    who = _roles(policy.roles) if policy.roles else "everyone"
    condition = policy.predicate.replace("{{ column }}", "the column").replace("{{column}}", "the column")
    attribute_note = (
        " ({{ user.… }} is each member's own attribute, set on their membership)" if "user." in condition else ""
    )
    return format_html(
        "In every table with a column tagged <code>{}</code>, on every data source{}, {}{} see only the rows where "
        "<code>{}</code>{}; with several such columns, each must match.",
        policy.tag, _tables_with(policy), who, _except(policy.exempt_roles), condition, attribute_note,
    )  # fmt: skip


def describe_table_visibility(policy: TableVisibilityPolicy) -> SafeString:
    who = _roles(policy.hidden_for_roles) if policy.hidden_for_roles else "no one (no role is listed)"
    return format_html("In {}, the table is hidden from {}: it is absent from their catalog and their SQL.",
                       _where(policy), who)  # fmt: skip


def describe_approval_rule(rule: ApprovalRule) -> SafeString:
    approvers = _roles(rule.approver_roles, "or") or _roles(DEFAULT_APPROVERS, "or")
    count = rule.required_approvals
    return format_html(
        "{} need {} approval{} from {}, not the person who asked (unless an owner).",
        rule.get_action_display(), count, "" if count == 1 else "s", approvers,
    )  # fmt: skip


def _lines(request: HttpRequest, items: list[Any], describe: Any, model: str) -> list[PolicyLine]:
    staff = request.user.is_staff
    return [
        PolicyLine(
            name=str(item),
            sentence=describe(item),
            enabled=item.enabled,
            admin_url=reverse(f"admin:governance_{model}_change", args=[item.pk]) if staff else "",
        )
        for item in items
    ]


# --- the audit log -----------------------------------------------------------------------------


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150, label="Who")
    tool = forms.CharField(required=False, max_length=64, label="Action")
    decision = forms.ChoiceField(
        required=False, choices=DECISIONS, label="Decision", widget=forms.Select(attrs={"data-autosubmit": ""})
    )
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    after = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("The “From” date is after the “To” date.")
        return data


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    newer_url: str
    older_url: str
    newest_url: str
    filtered: bool  # some filter is set


def _audit_page(request: HttpRequest, membership: Membership, form: AuditFilterForm) -> AuditPage:
    """One page of the filtered log, by id (keyset): constant cost however long the log is."""
    data = form.cleaned_data if form.is_valid() else {}
    since, until = day_bounds(data.get("since"), data.get("until"))
    events = selectors.audit_events(
        workspace=membership.workspace,
        actor_username=data.get("actor") or "",
        tool=data.get("tool") or "",
        decision=data.get("decision") or "",
        since=since,
        until=until,
    )
    if data.get("after") is not None:
        page = list(events.filter(id__gt=data["after"]).order_by("id")[:EVENTS_PER_PAGE])[::-1]
    elif data.get("before"):
        page = list(events.filter(id__lt=data["before"])[:EVENTS_PER_PAGE])
    else:
        page = list(events[:EVENTS_PER_PAGE])
    filters = {key: request.GET[key] for key in ("actor", "tool", "decision", "since", "until") if request.GET.get(key)}
    base = reverse("governance-overview")

    def url(**extra: Any) -> str:
        query = urlencode({**filters, **extra})
        return f"{base}?{query}#audit" if query else f"{base}#audit"

    newer = bool(page) and events.filter(id__gt=page[0].id).exists()
    older = bool(page) and events.filter(id__lt=page[-1].id).exists()
    return AuditPage(
        events=page,
        newer_url=url(after=page[0].id) if newer else "",
        older_url=url(before=page[-1].id) if older else "",
        newest_url=url() if newer else "",
        filtered=bool(filters),
    )


# --- the page ----------------------------------------------------------------------------------


@workspace_page
@require_GET
@vary_on_headers("HX-Request")
def governance_overview(request: HttpRequest, membership: Membership) -> HttpResponse:
    workspace = access_workspace(user=request.user, workspace_id=membership.workspace_id, perm="manage_policies")
    form = AuditFilterForm(request.GET or None)
    audit = _audit_page(request, membership, form)
    audit_context = {"audit": audit, "form": form, "filtered": audit.filtered}
    # htmx asks for the audit log alone when the filters change or a page is turned.
    if request.headers.get("HX-Target") == "audit" and not request.headers.get("HX-History-Restore-Request"):
        return render(request, "governance/_audit.html", audit_context)
    policies = selectors.workspace_policies(workspace=workspace)
    groups = [
        ("Tag row filters", "Which rows each member sees, wherever a tagged column is.", "tagrowfilterpolicy",
         _lines(request, policies.tag_row_filters, describe_tag_row_filter, "tagrowfilterpolicy")),
        ("Tag masks", "Columns masked or hidden by their tag, on every data source.", "tagmaskpolicy",
         _lines(request, policies.tag_masks, describe_tag_mask, "tagmaskpolicy")),
        ("Row filters", "Which rows each member sees of one table (exceptions to the tag policies).", "rowfilterpolicy",
         _lines(request, policies.row_filters, describe_row_filter, "rowfilterpolicy")),
        ("Column masks", "Columns of one table masked or hidden (they win over tag masks).", "columnmaskpolicy",
         _lines(request, policies.column_masks, describe_column_mask, "columnmaskpolicy")),
        ("Hidden tables", "Tables some roles do not see at all.", "tablevisibilitypolicy",
         _lines(request, policies.table_visibility, describe_table_visibility, "tablevisibilitypolicy")),
        ("Approvals", "Actions that wait for someone's approval before they run.", "approvalrule",
         _lines(request, policies.approval_rules, describe_approval_rule, "approvalrule")),
    ]  # fmt: skip
    staff = request.user.is_staff
    add_links = (
        format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            [(reverse(f"admin:governance_{model}_add"), title.lower()) for title, _, model, _ in groups],
        )
        if staff
        else ""
    )
    context = {
        **audit_context,
        "classification": selectors.classification_summary(workspace=workspace),
        "workspace": workspace,
        "policy_groups": [group for group in groups if group[3]],
        "policy_count": policies.count,
        "staff": staff,
        "add_links": add_links,
        "workspace_admin_url": reverse("admin:workspaces_workspace_change", args=[workspace.pk]) if staff else "",
        "members": workspace_members(workspace=workspace).order_by("user__username")[:500],
        "tools": selectors.audit_recent_tools(workspace=workspace),
    }
    return render(request, "governance/overview.html", context)

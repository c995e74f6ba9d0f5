"""Template filters for the history page: an execution's status, intent, duration and cost in words."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def label(value: Any, labels: dict[str, str]) -> str:
    """``{{ execution.status|label:status_labels }}``: the word for a code, the code when unknown."""
    return labels.get(str(value), str(value)) if value else ""


@register.filter
def duration(milliseconds: Any) -> str:
    """850 ms, 2.1 s, 3 min 5 s; an empty string when there is none yet."""
    if milliseconds is None or milliseconds == "":
        return ""
    ms = int(milliseconds)
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} min {seconds} s"


@register.filter
def usd(value: Any) -> str:
    """A cost in US dollars, to the hundredth of a cent below a dollar; empty when not known."""
    try:
        cost = float(value)
    except (TypeError, ValueError):
        return ""
    if cost == 0:
        return "$0"
    return f"${cost:,.2f}" if cost >= 1 else f"${cost:.4f}"

from __future__ import annotations

from django.apps import AppConfig


class EvalsConfig(AppConfig):
    """Evaluation of the product's answers (``manage.py evaluate``): it sits on top of every other
    app, like ``config``, and nothing imports it."""

    name = "evals"
    verbose_name = "Evaluation"

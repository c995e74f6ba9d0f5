from __future__ import annotations

from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        # Every catalog read classifies the columns it reads (datasources does not import governance).
        from datasources.services import catalog_step_register, key_review_recorder_register
        from governance.classification import audit_key_review, classify_on_read

        catalog_step_register(classify_on_read)
        # A person's decision on an inferred join key is audited like a tag review.
        key_review_recorder_register(audit_key_review)

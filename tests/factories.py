from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth.models import User

from workspaces import services
from workspaces.models import Membership, Organization, Workspace

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj: Any, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            obj.save()


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organisation {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


def make_user(username: str, *, staff: bool = False) -> User:
    user: User = UserFactory.create(username=username)
    if staff:
        user.is_staff = user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
    return user


def make_organization(name: str, slug: str) -> Organization:
    organization: Organization = OrganizationFactory.create(name=name, slug=slug)
    return organization


def make_workspace(*, organization: Organization, name: str = "Analytics", **kwargs: Any) -> Workspace:
    slug = kwargs.pop("slug", name.lower().replace(" ", "-"))
    return services.workspace_create(organization=organization, name=name, slug=slug, **kwargs)


def make_member(workspace: Workspace, username: str, role: str, attributes: dict[str, Any] | None = None) -> Membership:
    user = make_user(username)
    return services.membership_set(workspace=workspace, user=user, role=role, attributes=attributes or {})

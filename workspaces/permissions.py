"""Guardian's object permissions, read the fast way: one object of a workspace with the user's
permissions on it in one query, and the objects a user holds a permission on.

Every chokepoint (``access_datasource``, ``access_execution``) needs the same two answers: is the
object in one of the user's workspaces, and which of guardian's object permissions does the user
hold on it (personal grants and their role groups'). Guardian's checker asks with two queries and
the ORM spent several times the database's own time building them; this asks once, in plain SQL.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from django.contrib.auth.models import AnonymousUser, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, QuerySet
from django.http import Http404
from guardian.core import ObjectPermissionChecker
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import get_objects_for_user

from workspaces.models import Membership

M = TypeVar("M", bound=Model)
_SQL: dict[type[Model], str] = {}


def objects_with_perm(user: User | AnonymousUser, perm: str, model: type[M]) -> QuerySet[M]:
    """The ``model`` rows the user holds ``perm`` (``app_label.codename``) on, personally or through
    a role group (global permissions do not count); filter the result, not guardian's input. Given a
    filtered queryset, guardian restricts its permission rows to that queryset's ids (compared as
    text), which PostgreSQL joins row by row once the tables are analysed: 0.8 s for an owner's
    history of 1,000 executions, 4 ms when asked about the whole model."""
    return get_objects_for_user(user, perm, klass=model, accept_global_perms=False)


def visible_object(
    model: type[M], object_id: Any, user: User | AnonymousUser, *, view_perm: str, not_found: Http404
) -> tuple[M, set[str]]:
    """The object (a model with a ``workspace``) if the user may view it (``view_perm``), with the
    codenames of their permissions on it; ``not_found`` is raised for anything else: a malformed
    id, an anonymous user, an object of another workspace or one they may not view."""
    try:
        pk = uuid.UUID(str(object_id))
    except ValueError:
        raise not_found from None
    if not user.is_authenticated:
        raise not_found
    found, perms = object_with_perms(model, pk, user)
    if found is None or view_perm not in perms:
        raise not_found
    return found, perms


def object_with_perms(model: type[M], pk: Any, user: User) -> tuple[M | None, set[str]]:
    """The ``model`` row ``pk`` (a model with a ``workspace`` foreign key) if it is in one of the
    user's workspaces, and the codenames of the user's object permissions on it, the way guardian's
    checker reads them (an inactive user has none, a superuser all)."""
    if not user.is_active:
        return None, set()
    if user.is_superuser:
        found = model._default_manager.filter(pk=pk, workspace__memberships__user=user).first()
        return found, set(ObjectPermissionChecker(user).get_perms(found)) if found else set()
    content_type = ContentType.objects.get_for_model(model)  # cached per process
    rows = list(model._default_manager.raw(_sql(model), {"pk": pk, "user": user.pk, "ct": content_type.pk}))
    if not rows:
        return None, set()
    return rows[0], set(getattr(rows[0], "perms_array"))  # noqa: B009  an extra column of the raw query


def _sql(model: type[Model]) -> str:
    if model not in _SQL:
        table, key = model._meta.db_table, model._meta.pk.column
        workspace = model._meta.get_field("workspace").column  # type: ignore[union-attr]
        # object_pk is the key as text, as guardian stores it (a UUID with its dashes).
        _SQL[model] = f"""
            SELECT o.*, ARRAY(
                SELECT p.codename FROM {UserObjectPermission._meta.db_table} u
                JOIN {Permission._meta.db_table} p ON p.id = u.permission_id
                WHERE u.user_id = %(user)s AND u.content_type_id = %(ct)s AND u.object_pk = o.{key}::text
                UNION
                SELECT p.codename FROM {GroupObjectPermission._meta.db_table} g
                JOIN {Permission._meta.db_table} p ON p.id = g.permission_id
                JOIN {User.groups.through._meta.db_table} ug ON ug.group_id = g.group_id
                WHERE ug.user_id = %(user)s AND g.content_type_id = %(ct)s AND g.object_pk = o.{key}::text
            ) AS perms_array
            FROM {table} o
            WHERE o.{key} = %(pk)s
              AND o.{workspace} IN (
                  SELECT m.workspace_id FROM {Membership._meta.db_table} m WHERE m.user_id = %(user)s)
        """  # noqa: S608  names from the models, values as parameters
    return _SQL[model]

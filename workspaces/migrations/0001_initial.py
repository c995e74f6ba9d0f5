"""Organisations, workspaces and memberships move here from governance, with their rows, their
tables and their content types.

1. The three models enter this app's state on governance's tables (nothing happens in the database).
2. The tables are renamed to workspaces_*. PostgreSQL keeps a foreign key on its table, not on the
   name, so the other apps' foreign keys follow; their migrations only change the state.
3. The content types change app label and keep their ids, so auth_permission rows and guardian's
   object permissions (both point at a content type id) stay attached: every role group keeps its
   grants. Should a content type under the new label exist already (a post_migrate of the new code
   ran before this migration), what points at it moves onto the renamed one, which holds the
   grants, and it goes.

governance.0006 then removes the models from governance's state. Backwards, each step is undone
in reverse order (tables and content types back to governance).
"""

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import Exists, OuterRef

import workspaces.models

MODELS = ("organization", "workspace", "membership")


def _merge(apps, *, keep, drop):
    """Everything pointing at the content type ``drop`` moves onto ``keep``; then ``drop`` goes.
    A permission both have (same codename) keeps ``keep``'s row, and grants of ``drop``'s that
    ``keep``'s already gives are dropped rather than doubled (each table is unique on them)."""
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    User = apps.get_model(settings.AUTH_USER_MODEL)
    LogEntry = apps.get_model("admin", "LogEntry")
    object_permissions = (
        (apps.get_model("guardian", "UserObjectPermission"), "user_id"),
        (apps.get_model("guardian", "GroupObjectPermission"), "group_id"),
    )
    kept = {permission.codename: permission for permission in Permission.objects.filter(content_type=keep)}
    for permission in Permission.objects.filter(content_type=drop):
        target = kept.get(permission.codename)
        if target is None:
            permission.content_type = keep
            permission.save(update_fields=["content_type"])
            continue
        for through, holder in ((Group.permissions.through, "group_id"), (User.user_permissions.through, "user_id")):
            held = through.objects.filter(permission=target).values(holder)
            through.objects.filter(permission=permission, **{f"{holder}__in": held}).delete()
            through.objects.filter(permission=permission).update(permission=target)
        for model, holder in object_permissions:
            same = model.objects.filter(permission=target, object_pk=OuterRef("object_pk"), **{holder: OuterRef(holder)})
            model.objects.filter(permission=permission).filter(Exists(same)).delete()
            model.objects.filter(permission=permission).update(permission=target)
        permission.delete()
    for model, _holder in object_permissions:
        model.objects.filter(content_type=drop).update(content_type=keep)
    LogEntry.objects.filter(content_type=drop).update(content_type=keep)
    drop.delete()


def _move_content_types(apps, from_label, to_label):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        moving = ContentType.objects.filter(app_label=from_label, model=model).first()
        if moving is None:
            continue  # never created (a fresh database): post_migrate creates it under the new label
        already = ContentType.objects.filter(app_label=to_label, model=model).first()
        if already is not None:
            _merge(apps, keep=moving, drop=already)
        moving.app_label = to_label
        moving.save(update_fields=["app_label"])


def content_types_forwards(apps, schema_editor):
    _move_content_types(apps, "governance", "workspaces")


def content_types_backwards(apps, schema_editor):
    _move_content_types(apps, "workspaces", "governance")


class Migration(migrations.Migration):

    initial = True

    # Every migration that made a foreign key to governance's tables runs before they are renamed
    # (on a fresh database too): the latest of each app that has one.
    dependencies = [
        ("governance", "0005_audit_append_function"),
        ("datasources", "0002_query_export"),
        ("prompts", "0001_initial"),
        ("agent", "0002_modelconfig"),
        ("executions", "0003_encrypt_reply_and_arguments"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("guardian", "0003_remove_groupobjectpermission_guardian_gr_content_ae6aec_idx_and_more"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Organization',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('name', models.CharField(max_length=200)),
                        ('slug', models.SlugField(max_length=80, unique=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        'ordering': ['name'],
                        'db_table': 'governance_organization',
                    },
                ),
                migrations.CreateModel(
                    name='Workspace',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('name', models.CharField(max_length=200)),
                        ('slug', models.SlugField(max_length=80)),
                        ('safety_level', models.CharField(choices=[('strict', 'Strict (read only)'), ('standard', 'Standard (writes and DDL need approval)'), ('permissive', 'Permissive (writes without approval, DDL with approval)')], default=workspaces.models.default_safety_level, max_length=16)),
                        ('query_timeout_seconds', models.PositiveIntegerField(default=30, help_text='statement_timeout of every query run in this workspace')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='workspaces', to='workspaces.organization')),
                    ],
                    options={
                        'ordering': ['organization__name', 'name'],
                        'permissions': [('manage_members', 'Can add, change and remove workspace members'), ('manage_policies', 'Can manage the governance policies of the workspace'), ('manage_datasources', 'Can add data sources to the workspace')],
                        'db_table': 'governance_workspace',
                    },
                ),
                migrations.CreateModel(
                    name='Membership',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('role', models.CharField(choices=[('owner', 'Owner'), ('admin', 'Admin'), ('analyst', 'Analyst'), ('viewer', 'Viewer')], default='viewer', max_length=16)),
                        ('attributes', models.JSONField(blank=True, default=dict)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to=settings.AUTH_USER_MODEL)),
                        ('workspace', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to='workspaces.workspace')),
                    ],
                    options={
                        'ordering': ['workspace', 'user__username'],
                        'db_table': 'governance_membership',
                    },
                ),
                migrations.AddConstraint(
                    model_name='workspace',
                    constraint=models.UniqueConstraint(fields=('organization', 'slug'), name='workspace_slug_unique_in_org'),
                ),
                migrations.AddConstraint(
                    model_name='membership',
                    constraint=models.UniqueConstraint(fields=('user', 'workspace'), name='membership_unique_per_workspace'),
                ),
            ],
        ),
        # table=None: the default name, workspaces_<model>.
        migrations.AlterModelTable(name='organization', table=None),
        migrations.AlterModelTable(name='workspace', table=None),
        migrations.AlterModelTable(name='membership', table=None),
        migrations.RunPython(content_types_forwards, content_types_backwards),
    ]

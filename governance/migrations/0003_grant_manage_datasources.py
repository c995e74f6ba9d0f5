"""Existing workspaces: owners and admins also get the new manage_datasources permission."""

from django.db import migrations

NEW_PERMS = {"owner": "manage_datasources", "admin": "manage_datasources"}


def grant(apps, schema_editor):
    Workspace = apps.get_model("governance", "Workspace")
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    GroupObjectPermission = apps.get_model("guardian", "GroupObjectPermission")
    content_type, _ = ContentType.objects.get_or_create(app_label="governance", model="workspace")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="manage_datasources",
        defaults={"name": "Can add data sources to the workspace"},
    )
    for workspace in Workspace.objects.all():
        for role in NEW_PERMS:
            group = Group.objects.filter(name=f"workspace:{workspace.pk}:{role}").first()
            if group is not None:
                GroupObjectPermission.objects.get_or_create(
                    group=group, permission=permission, content_type=content_type, object_pk=str(workspace.pk)
                )


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0002_alter_workspace_options_and_more"),
        ("guardian", "0003_remove_groupobjectpermission_guardian_gr_content_ae6aec_idx_and_more"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]

"""Organisations, workspaces and memberships now live in the workspaces app (workspaces.0001 moved
their tables and content types): the policies' and the audit log's foreign keys point there, and
the models leave governance's state.

State only, like the other apps' foreign keys: the constraints followed the renamed tables. The
models go last, once no foreign key in any app's state points at them (hence the dependencies on
the other apps' migrations that move theirs).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('governance', '0005_audit_append_function'),
        ('workspaces', '0001_initial'),
        ('datasources', '0003_alter_datasource_workspace_and_more'),
        ('prompts', '0002_alter_prompt_organization_alter_prompt_workspace'),
        ('agent', '0003_alter_modelconfig_workspace'),
        ('executions', '0004_alter_promptexecution_workspace'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='rowfilterpolicy',
                    name='workspace',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='workspaces.workspace'),
                ),
                migrations.AlterField(
                    model_name='columnmaskpolicy',
                    name='workspace',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='workspaces.workspace'),
                ),
                migrations.AlterField(
                    model_name='tablevisibilitypolicy',
                    name='workspace',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='workspaces.workspace'),
                ),
                migrations.AlterField(
                    model_name='approvalrule',
                    name='workspace',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='approval_rules', to='workspaces.workspace'),
                ),
                migrations.AlterField(
                    model_name='auditevent',
                    name='workspace',
                    field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='workspaces.workspace'),
                ),
                migrations.DeleteModel(name='Membership'),
                migrations.DeleteModel(name='Workspace'),
                migrations.DeleteModel(name='Organization'),
            ],
        ),
    ]

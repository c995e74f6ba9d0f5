"""One round trip per audit row: the chain lock, the predecessor's hash and the insert run in one
database function instead of five statements (begin, lock, select, insert, commit).

Each statement of a volatile PL/pgSQL function takes a fresh snapshot, so the predecessor is read
after the lock is held and sees the row of the writer that held it before: the chain cannot fork.
The hash is sha256(prev_hash || content) with ``content`` the JSON that Python builds
(``governance.audit._content``), the same formula ``audit_verify`` checks.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION governance_audit_append(
    p_lock bigint, p_content text, p_workspace_id uuid, p_actor_id integer, p_actor_username varchar,
    p_tool varchar, p_arguments_hash varchar, p_decision varchar, p_code varchar, p_reason text,
    p_policies_applied jsonb, p_sql_before text, p_sql_after text, p_rows_returned bigint,
    p_execution_id uuid, p_created_at timestamptz
) RETURNS TABLE (event_id bigint, event_prev_hash varchar, event_hash varchar)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    prev varchar;
    digest varchar;
    new_id bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(p_lock);
    IF p_workspace_id IS NULL THEN
        SELECT a.hash INTO prev FROM governance_auditevent a
         WHERE a.workspace_id IS NULL ORDER BY a.id DESC LIMIT 1;
    ELSE
        SELECT a.hash INTO prev FROM governance_auditevent a
         WHERE a.workspace_id = p_workspace_id ORDER BY a.id DESC LIMIT 1;
    END IF;
    prev := coalesce(prev, repeat('0', 64));
    digest := encode(sha256(convert_to(prev || p_content, 'UTF8')), 'hex');
    INSERT INTO governance_auditevent (
        workspace_id, actor_id, actor_username, tool, arguments_hash, decision, code, reason,
        policies_applied, sql_before, sql_after, rows_returned, execution_id, created_at, prev_hash, hash
    ) VALUES (
        p_workspace_id, p_actor_id, p_actor_username, p_tool, p_arguments_hash, p_decision, p_code, p_reason,
        p_policies_applied, p_sql_before, p_sql_after, p_rows_returned, p_execution_id, p_created_at, prev, digest
    ) RETURNING id INTO new_id;
    RETURN QUERY SELECT new_id, prev, digest;
END;
$$;
"""
DROP = """
DROP FUNCTION IF EXISTS governance_audit_append(
    bigint, text, uuid, integer, varchar, varchar, varchar, varchar, varchar, text, jsonb, text, text, bigint, uuid,
    timestamptz
);
"""


class Migration(migrations.Migration):
    dependencies = [("governance", "0004_policies_and_audit")]

    operations = [migrations.RunSQL(CREATE, DROP)]

"""The audit trail is append-only in the database itself: an UPDATE or DELETE on it fails, whoever
sends it (SQLite and PostgreSQL triggers).

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MESSAGE = "the audit trail is append-only"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_no_{verb.lower()} BEFORE {verb} ON audit "
                       f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")
        return
    op.execute(f"""CREATE FUNCTION koppel_audit_append_only() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$ LANGUAGE plpgsql""")
    op.execute("CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit "
               "FOR EACH STATEMENT EXECUTE FUNCTION koppel_audit_append_only()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER audit_no_{verb}")
        return
    op.execute("DROP TRIGGER audit_append_only ON audit")
    op.execute("DROP FUNCTION koppel_audit_append_only()")

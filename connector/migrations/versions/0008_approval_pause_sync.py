"""Approval, pause / resume, sync now and the sync history (the AP web page and its CLI twins).

Documents may now wait in ``awaiting_approval`` (their request ``awaiting``): no column changes, the
status columns are wide enough. New tables: ``pause`` (a paused source or company), ``sync_request``
(sync now, refresh lists) and ``sync_event`` (polls, Web Connector sessions, errors, pauses).

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pause",
        sa.Column("scope", sa.String(10), primary_key=True),
        sa.Column("name", sa.String(260), primary_key=True),
        sa.Column("paused_at", sa.DateTime, nullable=False),
        sa.Column("by", sa.String(100), nullable=False, server_default=""),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
    )
    op.create_table(
        "sync_request",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("target", sa.String(260), nullable=True),
        sa.Column("by", sa.String(100), nullable=False, server_default=""),
        sa.Column("requested_at", sa.DateTime, nullable=False),
        sa.Column("done_at", sa.DateTime, nullable=True),
        sa.Column("result", sa.Text, nullable=True),
    )
    op.create_index("ix_sync_request_open", "sync_request", ["kind", "done_at"])
    op.create_table(
        "sync_event",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("name", sa.String(260), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_sync_event_scope", "sync_event", ["scope", "name", "id"])


def downgrade() -> None:
    op.drop_index("ix_sync_event_scope", "sync_event")
    op.drop_table("sync_event")
    op.drop_index("ix_sync_request_open", "sync_request")
    op.drop_table("sync_request")
    op.drop_table("pause")

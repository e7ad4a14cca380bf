"""Notifications (issue 14): ``notification_state`` remembers, per channel (e-mail, webhook) and topic
(held documents, a failing source, a silent Web Connector, the daily digest), what was last told and
when, so a restart neither repeats a message nor loses one that could not be delivered.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification_state",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("cursor", sa.Integer, nullable=True),
        sa.Column("episode", sa.String(40), nullable=True),
        sa.Column("last_sent_at", sa.DateTime, nullable=True),
        sa.Column("last_attempt_at", sa.DateTime, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("notification_state")

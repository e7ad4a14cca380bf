"""outbound_ack: 997s owed to partners, kept until a source takes them (retried on each poll)

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbound_ack",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("file_id", sa.Integer(), sa.ForeignKey("received_file.id"), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("connection", sa.String(200), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_ack_pending", "outbound_ack", ["source", "state"])


def downgrade() -> None:
    op.drop_index("ix_ack_pending", table_name="outbound_ack")
    op.drop_table("outbound_ack")

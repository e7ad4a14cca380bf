"""received_file.reason_code + attempts: every file ends with a verdict a person can read (empty,
not_x12, parser_error, translate_error), and a file whose translation raised is retried a bounded
number of times; outbound_ack.claimed_until: one process sends a pending 997 at a time.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("received_file") as b:
        b.add_column(sa.Column("reason_code", sa.String(40), nullable=True))
        b.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("outbound_ack") as b:
        b.add_column(sa.Column("claimed_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbound_ack") as b:
        b.drop_column("claimed_until")
    with op.batch_alter_table("received_file") as b:
        b.drop_column("attempts")
        b.drop_column("reason_code")

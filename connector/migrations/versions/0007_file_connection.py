"""received_file.connection: the partner connection a file came in on (Cleo), so the 997 owed for it
goes back there even when the file is translated by a later poll (after a crash or a failed try).

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("received_file") as b:
        b.add_column(sa.Column("connection", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("received_file") as b:
        b.drop_column("connection")

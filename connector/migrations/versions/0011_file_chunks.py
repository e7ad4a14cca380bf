"""A big received file's raw bytes in chunks (issue 12): ``file_chunk`` rows of at most 256 kB each, so a
100 MB file is written and read a chunk at a time, never held whole. ``received_file.chunks`` says how many
a file has; 0 (every file stored before, and every small file) keeps its bytes in ``content`` as before.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("received_file", sa.Column("chunks", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "file_chunk",
        sa.Column("file_id", sa.Integer, sa.ForeignKey("received_file.id"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("file_chunk")
    with op.batch_alter_table("received_file") as batch:
        batch.drop_column("chunks")

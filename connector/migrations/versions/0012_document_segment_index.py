"""Where each document's set is in its file (issue 12): ``edi_document.segment_index``, its ST's 1-based
segment count, so the document's page shows its own segments (ISA, GS, ST ... SE) however far into a big file
it is, not the file's first ones. Documents stored before have none (their page shows the file as before).

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("edi_document", sa.Column("segment_index", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("edi_document") as batch:
        batch.drop_column("segment_index")

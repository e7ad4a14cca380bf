"""Where each document's set is in its file's bytes (issue 12): ``edi_document.set_place``, the byte offsets of
its ISA, its GS and its ST (``edi.SetPlace``, a JSON list), so the document's page reads its own segments
without reading the file up to them: constant time however far into a 100 MB file the set is. Documents stored
before have none (their page reads the file up to the set, as before).

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("edi_document", sa.Column("set_place", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("edi_document") as batch:
        batch.drop_column("set_place")

"""The seller's own id (its N1 party id) on each document: ``edi_document.seller_id``. A document held before its
supplier was mapped keeps only its ISA sender in ``sender_id``; a supplier mapped by the N1 id it also sent
(``ids seen: INITECHEDI, INITECH``) then found none of its held documents by supplier (``qbedi release --all
--supplier INITECH``, the held page's supplier filter), though a release matches them to it. Filled here for
the documents that matter, those no supplier matched, from the JSON each keeps.

Revision ID: 0014
Revises: 0013
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("edi_document", sa.Column("seller_id", sa.String(80), nullable=True))
    conn = op.get_bind()
    last = 0
    while True:  # (a batch at a time: an unmapped sender's big file is tens of thousands of documents)
        rows = conn.execute(sa.text("SELECT id, parsed FROM edi_document WHERE supplier_id IS NULL AND id > :last "
                                    "ORDER BY id LIMIT 500"), {"last": last}).fetchall()
        if not rows:
            break
        ids = []
        for doc_id, parsed in rows:
            if isinstance(parsed, (str, bytes)):
                parsed = json.loads(parsed or "{}")
            seller = (((parsed or {}).get("seller") or {}).get("id") or "").strip()
            if seller:
                ids.append({"s": seller[:80], "i": doc_id})
        if ids:
            conn.execute(sa.text("UPDATE edi_document SET seller_id = :s WHERE id = :i"), ids)
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("edi_document") as batch:
        batch.drop_column("seller_id")

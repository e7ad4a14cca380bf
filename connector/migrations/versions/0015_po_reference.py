"""The purchase orders each document names, on an index: ``po_reference`` (po_number, document_id). The
three-way match read a supplier's latest 500 ship notices and 500 invoices, whole, for every invoice (a big
file's 60,000 invoices: 60 million rows), and missed an invoice older than those 500 that billed the same
goods. Filled here from the JSON each document keeps, a batch of documents at a time.

Revision ID: 0015
Revises: 0014
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BATCH = 500


def _numbers(doc: dict, transaction_set: str, number: str) -> list[str]:
    """(connector.matching.po_numbers as of this migration)"""
    if transaction_set == "850":
        found = [number]
    else:
        found = [*(doc.get("po_numbers") or []), *((ln.get("po_number") or "") for ln in doc.get("lines") or [])]
    return list(dict.fromkeys(n.strip().upper()[:60] for n in found if n and n.strip()))


def upgrade() -> None:
    op.create_table(
        "po_reference",
        sa.Column("po_number", sa.String(60), primary_key=True),
        sa.Column("document_id", sa.Integer, sa.ForeignKey("edi_document.id"), primary_key=True),
    )
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(sa.text(
            "SELECT id, transaction_set, document_number, parsed FROM edi_document WHERE id > :last AND "
            "transaction_set IN ('810', '850', '856') ORDER BY id LIMIT :n"), {"last": last, "n": BATCH}).fetchall()
        if not rows:
            break
        refs = []
        for doc_id, ts, number, parsed in rows:
            if isinstance(parsed, (str, bytes)):
                parsed = json.loads(parsed or "{}")
            refs += [{"p": n, "d": doc_id} for n in _numbers(parsed or {}, ts, number or "")]
        if refs:
            conn.execute(sa.text("INSERT INTO po_reference (po_number, document_id) VALUES (:p, :d)"), refs)
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_table("po_reference")

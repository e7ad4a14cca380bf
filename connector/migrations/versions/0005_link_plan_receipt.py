"""qb_request.meta: a receipt's link plan carries the receipt's header (vendor, date, number, memo,
ExternalGUID), so linking builds the ItemReceipt from typed values instead of re-reading its XML.

Receipts queued before this revision get the header once, here, from the qbXML they were queued with.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op
from lxml import etree

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_rq = sa.table("qb_request", sa.column("id", sa.Integer), sa.column("request_type", sa.String),
               sa.column("qbxml", sa.Text), sa.column("meta", sa.JSON))


def receipt_header(qbxml: str) -> dict:
    el = etree.fromstring(qbxml)
    add = el if el.tag == "ItemReceiptAdd" else el.find(".//ItemReceiptAdd")
    return {"vendor": add.findtext("VendorRef/FullName") or "", "txn_date": add.findtext("TxnDate"),
            "ref_number": add.findtext("RefNumber") or "", "memo": add.findtext("Memo") or "",
            "external_guid": add.findtext("ExternalGUID") or ""}


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(_rq.c.id, _rq.c.qbxml, _rq.c.meta).where(_rq.c.request_type == "ItemReceiptAdd"))
    for rid, qbxml, meta in rows.fetchall():
        plan = (meta or {}).get("link_plan")
        if plan is None or "receipt" in plan:
            continue
        meta = {**meta, "link_plan": {**plan, "receipt": receipt_header(qbxml)}}
        conn.execute(sa.update(_rq).where(_rq.c.id == rid).values(meta=meta))


def downgrade() -> None:  # the extra key is harmless to older versions
    pass

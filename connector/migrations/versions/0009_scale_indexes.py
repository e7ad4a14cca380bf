"""Indexes for a large store (issue 12): no per-call statement of a Web Connector session, and no
per-document statement of an ingest, scans the rows that are done with.

* ``qb_request (company, state, id)`` replaces ``(company, state)``: "queued for this company, oldest
  first, after id N" is one index range (PostgreSQL picked a primary-key scan filtering out every
  drained row); the lost-answer and stale-``sent`` look-ups and the pending counts read only the rows
  in those states.
* ``qb_request (company, request_type, ref_number)``: the purchase order a change applies to is found
  among the company's done PurchaseOrderAdds by number, not by reading all of them.
* ``edi_document (file_id, ordinal)``: a file's documents (resuming a file committed in chunks, the
  ``files`` listing) without a scan.
* ``qb_request (document_id)``: a document's requests (its page, ``qbedi show``, the dry run).
* ``received_file (status, reason_code)``: received files counted by verdict (dashboard, ``qbedi status``).

Revision ID: 0009
Revises: 0008
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_rq_company_state_id", "qb_request", ["company", "state", "id"])
    op.drop_index("ix_rq_company_state", "qb_request")
    op.create_index("ix_rq_company_type_ref", "qb_request", ["company", "request_type", "ref_number"])
    op.create_index("ix_doc_file", "edi_document", ["file_id", "ordinal"])
    op.create_index("ix_rq_document", "qb_request", ["document_id"])
    op.create_index("ix_file_verdict", "received_file", ["status", "reason_code"])


def downgrade() -> None:
    op.drop_index("ix_file_verdict", "received_file")
    op.drop_index("ix_rq_document", "qb_request")
    op.drop_index("ix_doc_file", "edi_document")
    op.drop_index("ix_rq_company_type_ref", "qb_request")
    op.create_index("ix_rq_company_state", "qb_request", ["company", "state"])
    op.drop_index("ix_rq_company_state_id", "qb_request")

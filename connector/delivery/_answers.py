"""QuickBooks' answers to one message set, applied in one unit of work.

Every answer is matched to what this batch sent by its :class:`RequestKey`; a request moves only
from the state the batch left it in (an answer for anything else is logged and ignored).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal, InvalidOperation

import structlog
from lxml import etree
from sqlalchemy.orm import Session

from .. import lifecycle
from ..plans import RequestMeta
from ..status import DocStatus, Hold, RqState
from ..store import QueuedRequest, audit, utcnow
from ._batch import Progress, RequestKey, RequestKind
from ._lists import NameLists
from ._purchasing import apply_po_read, link_bill, link_receipt

log = structlog.get_logger(__name__)

TRANSIENT = {3170, 3175, 3176, 3180, 3231}  # record in use, ... and 3231 "not processed": tried again
REFERENCE_ERRORS = {3140}  # a vendor/account/class/item QuickBooks does not have
STALE_EDIT_SEQUENCE = 3200
OBJECT_NOT_FOUND = 3120  # e.g. the bill a part was adding lines to was deleted: read it again to know
MAX_ATTEMPTS = 5
MAX_MOD_ATTEMPTS = 3
MAX_VERIFY_TRIES = 3
_AMOUNT_FIELD = {"BillRet": "AmountDue", "VendorCreditRet": "CreditAmount", "PurchaseOrderRet": "TotalAmount",
                 "ItemReceiptRet": "TotalAmount"}


class Answers:
    """Applies answers for one session's batch; :meth:`finish` writes what was posted in bulk."""

    def __init__(self, s: Session, progress: Progress, lists: NameLists, *, company_file: str, username: str,
                 ticket: str):
        self.s, self.progress, self.lists = s, progress, lists
        self.company_file, self.username, self.ticket = company_file, username, ticket
        self.postings = lifecycle.Postings()

    def apply(self, key: RequestKey, item) -> None:
        if key.kind is RequestKind.LIST:
            self.lists.read(key.target, item)
            return
        handler = {RequestKind.QUEUED: self._answered, RequestKind.VERIFY: self._verified,
                   RequestKind.LINK_READ: self._receipt_pos_read, RequestKind.MOD_READ: self._change_po_read,
                   RequestKind.VENDOR: self._vendor_added, RequestKind.RECONCILE: self._reconciled,
                   RequestKind.BILL_READ: self._bill_read}[key.kind]
        handler(key.request_id, item)

    def finish(self) -> None:
        self.postings.write(self.s)

    def _hold(self, rq: QueuedRequest, code: str, message: str, **detail) -> None:
        lifecycle.hold_request(self.s, rq, code, message, **detail)
        self.progress.count("held")

    # ------------------------------------------------------------ the queued request itself
    def _answered(self, rid: int, item) -> None:
        rq = self.s.get(QueuedRequest, rid)
        if rq is None or rq.state != RqState.SENT:
            log.warning("qbwc.stray_answer", request=rid, state=getattr(rq, "state", None))
            return
        if item.ret is not None and (item.status_code == 0 or (item.severity != "Error" and item.status_code < 1000)):
            if item.status_code:
                audit(self.s, "quickbooks_warning", document=rq.document, request_id=rq.id,
                      status_code=item.status_code, message=item.message)
            meta = RequestMeta.from_json(rq.meta)
            if meta.parts is not None:
                self._part_found(rq, meta, item.ret, verified=False)
            else:
                self._posted(rq, item.ret, verified=False)
            return
        rq.status_code, rq.status_message = item.status_code, item.message
        meta = RequestMeta.from_json(rq.meta)
        parts = meta.parts if meta.parts is not None and meta.parts.txn_id else None
        if item.status_code == STALE_EDIT_SEQUENCE and meta.mod_plan is not None or \
                item.status_code in (STALE_EDIT_SEQUENCE, OBJECT_NOT_FOUND) and parts is not None:
            self._stale(rq, meta, item)
        elif parts is not None and item.status_code not in TRANSIENT:
            self._hold(rq, Hold.PARTIAL_BILL, f"{parts.said}; QuickBooks refused the next part "
                                              f"({item.status_code}: {item.message}). Fix what it names (e.g. the "
                                              "mapping), then release this document: the other lines are added to "
                                              "the same bill. Or delete the bill in QuickBooks and release this "
                                              "document to post the invoice again whole, or finish the bill by hand "
                                              "and dismiss this document",
                       status_code=item.status_code)
        elif item.status_code in TRANSIENT and rq.attempts < MAX_ATTEMPTS:
            # the record is in use: give the other user time (5 s, 10 s, 20 s ... at most 5 min)
            wait = min(300, 5 * 2 ** (rq.attempts - 1))
            lifecycle.retry(self.s, rq, replace(meta, not_before=(utcnow() + timedelta(seconds=wait)).isoformat()),
                            "retry", status_code=item.status_code, message=item.message, attempt=rq.attempts)
        elif item.status_code in REFERENCE_ERRORS:
            self._hold(rq, Hold.INVALID_REFERENCE, item.message, status_code=item.status_code)
        else:
            lifecycle.fail_request(self.s, rq, item.status_code, item.message)
            self.progress.count("failed")

    def _stale(self, rq: QueuedRequest, meta: RequestMeta, item) -> None:
        """Someone changed the purchase order (or the bill being sent in parts) between our read and our
        change: read it again."""
        if rq.attempts < MAX_MOD_ATTEMPTS:
            again = replace(meta, po_read=None) if meta.parts is None else \
                replace(meta, parts=replace(meta.parts, sending=0, reread=True))
            lifecycle.retry(self.s, rq, again, "stale_edit_sequence", attempt=rq.attempts,
                            message=item.message + (" Someone changed it in QuickBooks" if item.status_code ==
                                                    STALE_EDIT_SEQUENCE else "") + "; re-reading before trying again.")
        elif meta.parts is not None:
            self._hold(rq, Hold.PARTIAL_BILL, f"{meta.parts.said}. {item.message} The bill kept changing in "
                                              f"QuickBooks while qbedi added its lines ({rq.attempts} tries): check it "
                                              "there, then release this document", status_code=item.status_code)
        else:
            self._hold(rq, Hold.EDIT_CONFLICT,
                       f"{item.message} The purchase order kept changing in QuickBooks while we tried "
                       f"{rq.attempts} times; check it there, then release this document.",
                       status_code=item.status_code)

    # ------------------------------------------------------------ a bill sent in parts
    def _part_found(self, rq: QueuedRequest, meta: RequestMeta, ret, *, verified: bool) -> None:
        """QuickBooks' bill after a part was sent (its answer, or a look-up when the answer was lost): the
        part is in when the bill holds our lines so far plus the part's, and no other; the last part posts
        the document. A look-up may also find the part never ran (it goes again); anything else means the
        bill was changed in QuickBooks meanwhile, and a person decides."""
        parts = meta.parts
        expense, items = _line_ids(ret)
        have = len(expense) + len(items)
        ours = expense[:len(parts.expense_ids)] == parts.expense_ids and items[:len(parts.item_ids)] == parts.item_ids
        now = replace(parts, txn_id=ret.findtext("TxnID") or parts.txn_id, edit_sequence=ret.findtext("EditSequence")
                      or "", expense_ids=expense, item_ids=items, amount=ret.findtext("AmountDue"), reread=False,
                      sending=0)
        if ours and have == parts.posted + parts.sending and parts.sending:
            now = replace(now, posted=have, parts=parts.parts + 1)
            if have >= parts.total:
                self._posted(rq, ret, verified=verified, parts=now.parts)
                return
            lifecycle.part_posted(self.s, rq, replace(meta, parts=now), part=now.parts, lines=have, of=parts.total,
                                  txn_id=now.txn_id, amount=now.amount, edit_sequence=now.edit_sequence,
                                  verified=verified, company=self.company_file)
            return
        if verified and ours and have == parts.posted and parts.txn_id:  # the lost part never ran
            lifecycle.resend(self.s, rq, replace(meta, parts=now), "verified_absent",
                             f"QuickBooks' bill has {have} lines, without the lost part's; the part goes again")
            return
        self._hold(rq, Hold.PARTIAL_BILL,
                   f"{parts.said}, but the bill in QuickBooks now has {have} lines where qbedi expected "
                   f"{parts.posted + parts.sending}: it was changed there while qbedi added its lines. Check it in "
                   "QuickBooks: delete it and release this document to post the invoice again whole, or finish "
                   "the bill by hand and dismiss this document", quickbooks_lines=have)

    def _bill_deleted(self, rq: QueuedRequest, meta: RequestMeta) -> None:
        """The bill a part was adding lines to is no longer in QuickBooks: held, its parts forgotten (a release
        posts the whole invoice again)."""
        parts = meta.parts
        self._hold(rq, Hold.BILL_DELETED, f"QuickBooks no longer has bill TxnID {parts.txn_id}, to which qbedi had "
                                          f"added {parts.posted} of the invoice's {parts.total} lines: it was "
                                          "deleted there. Release this document to post the whole invoice again "
                                          "as a new bill, or dismiss it")
        lifecycle.set_meta(rq, replace(meta, parts=None))

    def _bill_read(self, rid: int, item) -> None:
        """A bill sent in parts, read again before its next part (its EditSequence was stale, or the document
        was released): go on when it holds exactly our lines so far."""
        rq, meta = self._queued(rid)
        if rq is None or meta.parts is None or item.status_code in TRANSIENT:
            return
        parts = meta.parts
        if item.not_found and parts.released:  # a person released it after deleting the bill: start again
            lifecycle.set_meta(rq, replace(meta, parts=None))
            audit(self.s, "bill_gone", document=rq.document, request_id=rq.id, txn_id=parts.txn_id,
                  message=f"QuickBooks no longer has bill TxnID {parts.txn_id} ({parts.posted} of {parts.total} "
                          "lines); the whole invoice is posted again as a new bill")
            return
        if item.not_found:
            self._bill_deleted(rq, meta)
            return
        if not item.ok or item.ret is None:
            self._hold(rq, Hold.PARTIAL_BILL, f"{parts.said}; reading it again failed ({item.status_code}: "
                                              f"{item.message}). Release this document to try again",
                       status_code=item.status_code)
            return
        ret = item.ret
        expense, items = _line_ids(ret)
        if (expense, items) != (parts.expense_ids, parts.item_ids):
            self._hold(rq, Hold.PARTIAL_BILL,
                       f"{parts.said}, but the bill in QuickBooks now has {len(expense) + len(items)} lines, not "
                       "those: it was changed there. Delete it in QuickBooks and release this document to post the "
                       "invoice again whole, or finish the bill by hand and dismiss this document")
            return
        lifecycle.set_meta(rq, replace(meta, parts=replace(parts, edit_sequence=ret.findtext("EditSequence") or "",
                                                            amount=ret.findtext("AmountDue"), reread=False)))

    def _posted(self, rq: QueuedRequest, ret, *, verified: bool, parts: int | None = None) -> None:
        """QuickBooks has it: request done, document posted, audit with TxnID and amount (in bulk)."""
        txn_id = ret.findtext("TxnID") or ret.findtext("ListID") or ""
        amount_text = ret.findtext(_AMOUNT_FIELD.get(etree.QName(ret).localname, "TotalAmount")) or ""
        try:
            amount = Decimal(amount_text) if amount_text else None
        except InvalidOperation:
            amount = None
        self.progress.count("posted")
        doc = rq.document
        txn_type = rq.request_type.removesuffix("Add").removesuffix("Mod")
        detail = {"request_id": rq.id, "txn_type": txn_type, "txn_id": txn_id,
                  "amount": str(amount) if amount is not None else None,
                  "expected": str(doc.total) if doc is not None and doc.total else None,
                  "ref_number": ret.findtext("RefNumber"), "edit_sequence": ret.findtext("EditSequence"),
                  "company": self.company_file, "verified": verified}
        if parts is not None:
            detail["parts"] = parts  # a bill too big for one round trip, posted in this many parts
        self.postings.posted(rq, txn_id=txn_id, txn_type=txn_type, amount=amount, detail=detail,
                             notes=self._surprises(rq, ret, amount) if doc is not None else ())
        if doc is not None:
            log.debug("document.posted", document=doc.document_number, txn_type=txn_type, txn_id=txn_id,
                      amount=str(amount) if amount is not None else None, user=self.username)

    @staticmethod
    def _surprises(rq: QueuedRequest, ret, amount: Decimal | None) -> list[tuple[str, dict]]:
        """What QuickBooks recorded differently from what we sent: a dropped PO link, another amount."""
        doc, notes = rq.document, []
        expected_links = {ln.txn_id for ln in RequestMeta.from_json(rq.meta).links}
        if expected_links:
            got = {lt.findtext("TxnID") for lt in ret.findall("LinkedTxn")}
            if not expected_links <= got:
                notes.append(("link_dropped", {"expected": sorted(expected_links), "quickbooks": sorted(got)}))
                log.warning("document.link_dropped", document=doc.document_number, expected=sorted(expected_links))
        if amount is not None and doc.total is not None and abs(abs(amount) - abs(doc.total)) > Decimal("0.005") \
                and doc.transaction_set == "810":
            notes.append(("amount_differs", {"quickbooks": str(amount), "edi": str(doc.total)}))
            log.warning("document.amount_differs", document=doc.document_number, quickbooks=str(amount),
                        edi=str(doc.total))
        return notes

    # ------------------------------------------------------------ a lost answer, looked up
    def _verified(self, rid: int, item) -> None:
        rq = self.s.get(QueuedRequest, rid)
        if rq is None or rq.state != RqState.UNKNOWN:
            return
        match = next((ret for ret in (item.rets or ([] if item.ret is None else [item.ret]))
                      if (ret.findtext("ExternalGUID") or "").upper() == rq.external_guid.upper()), None)
        meta = RequestMeta.from_json(rq.meta)
        if meta.parts is not None and (match is not None or meta.parts.txn_id):
            if match is not None:
                self._part_found(rq, meta, match, verified=True)
            elif item.status_code in (0, 1):  # the bill it was adding lines to is gone
                self._bill_deleted(rq, meta)
            else:
                self._lookup_failed(rq, meta, item)
            return
        if match is not None:
            audit(self.s, "verified_present", document=rq.document, request_id=rq.id,
                  message="QuickBooks already has this transaction; not sent again")
            self._posted(rq, match, verified=True)
        elif item.status_code in (0, 1) and rq.attempts >= MAX_ATTEMPTS:  # a poison request is not sent again
            self._hold(rq, Hold.NO_ANSWER, f"sent {rq.attempts} times and QuickBooks never answered; it is not in "
                                           "QuickBooks. Check the QuickBooks side (qbedi log), then release it")
        elif item.status_code in (0, 1):
            lifecycle.resend(self.s, rq, None, "verified_absent", "QuickBooks has no transaction with our "
                                                                  "ExternalGUID; the request will be sent again")
        else:
            self._lookup_failed(rq, meta, item)

    def _lookup_failed(self, rq: QueuedRequest, meta: RequestMeta, item) -> None:
        """The lookup itself failed: ask again next round, a bounded number of times."""
        tries = meta.verify_tries + 1
        lifecycle.set_meta(rq, replace(meta, verify_tries=tries))
        if tries >= MAX_VERIFY_TRIES:
            self._hold(rq, Hold.UNVERIFIABLE, f"the answer to this request was lost and looking it up in "
                                              f"QuickBooks failed {tries} times ({item.status_code}: "
                                              f"{item.message}); check QuickBooks, then release or dismiss it")

    # ------------------------------------------------------------ reconciliation of posted transactions
    def _reconciled(self, rid: int, item) -> None:
        """A posted transaction looked up by its TxnID: gone (status 1: QuickBooks has no such TxnID) or at
        another amount flags its document for a person; found as posted clears an earlier flag. A failed
        lookup settles nothing (the next pass asks again)."""
        rq = self.s.get(QueuedRequest, rid)
        doc = rq.document if rq is not None else None
        if doc is None or doc.status != DocStatus.POSTED or rq.state != RqState.DONE:
            return
        what = "bill" if rq.request_type == "BillAdd" else "credit"
        if item.not_found:
            lifecycle.flag_posted(self.s, doc, lifecycle.QB_DELETED,
                                  f"QuickBooks no longer has this {what} (TxnID {rq.result_txn_id}): it was deleted "
                                  f"there. If it should be in the books, post it again: qbedi resync {doc.id} (or the "
                                  "document page)", txn_id=rq.result_txn_id)
            return
        if not item.ok or item.ret is None:
            return
        found = item.ret.findtext("AmountDue") or item.ret.findtext("CreditAmount")
        amount = Decimal(found) if found else None
        if amount is not None and doc.qb_amount is not None and amount != Decimal(doc.qb_amount):
            lifecycle.flag_posted(self.s, doc, lifecycle.QB_CHANGED,
                                  f"the {what} in QuickBooks (TxnID {rq.result_txn_id}) is now {amount}, qbedi "
                                  f"posted {doc.qb_amount}: someone changed it there. Check it in QuickBooks",
                                  txn_id=rq.result_txn_id, amount=str(amount), posted=str(doc.qb_amount))
        else:
            lifecycle.unflag_posted(self.s, doc, txn_id=rq.result_txn_id)

    # ------------------------------------------------------------ reads before a write
    def _queued(self, rid: int) -> tuple[QueuedRequest | None, RequestMeta | None]:
        rq = self.s.get(QueuedRequest, rid)
        if rq is None or rq.state != RqState.QUEUED:
            return None, None
        return rq, RequestMeta.from_json(rq.meta)

    def _receipt_pos_read(self, rid: int, item) -> None:
        rq, meta = self._queued(rid)
        if rq is None or meta.link_plan is None and not meta.bill_pos:
            return
        if meta.link_plan is None:  # a bill: linked where QuickBooks has open lines, sent as it is otherwise
            if item.status_code in (0, 1):
                link_bill(self.s, rq, meta, item.rets or [])
            elif item.status_code not in TRANSIENT:
                lifecycle.set_meta(rq, replace(meta, linked=True))
                audit(self.s, "link_skipped", document=rq.document, request_id=rq.id,
                      message=f"reading its purchase orders failed ({item.status_code}: {item.message}); the bill "
                              "goes without links")
            return
        if item.status_code not in (0, 1):
            if item.status_code not in TRANSIENT:  # transient: asked again next round
                self._hold(rq, Hold.QB_ERROR, f"reading the purchase orders failed: {item.message}",
                           status_code=item.status_code)
            return
        if link_receipt(self.s, rq, meta, item.rets or []):
            self.progress.count("held")

    def _change_po_read(self, rid: int, item) -> None:
        rq, meta = self._queued(rid)
        if rq is None or meta.mod_plan is None or item.status_code in TRANSIENT:
            return
        if apply_po_read(self.s, rq, meta, item.rets or [], self.ticket):
            self.progress.count("held")

    def _vendor_added(self, rid: int, item) -> None:
        rq = self.s.get(QueuedRequest, rid)
        name = item.ret_text("Name") if item.ret is not None else None
        if item.status_code in (0, 3100):  # created, or it existed after all
            if name or rq is not None:
                self.lists.vendor_added(name or rq.vendor)
            if rq is not None and item.status_code == 0:
                audit(self.s, "vendor_created", document=rq.document, vendor=name or rq.vendor,
                      list_id=item.ret_text("ListID"))
        elif rq is not None:
            audit(self.s, "vendor_create_failed", document=rq.document, status_code=item.status_code,
                  message=item.message)


def _line_ids(ret) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A bill's TxnLineIDs as QuickBooks returned them: its expense lines, then its item lines."""
    return (tuple(x.findtext("TxnLineID") for x in ret.findall("ExpenseLineRet")),
            tuple(x.findtext("TxnLineID") for x in ret.findall("ItemLineRet")))

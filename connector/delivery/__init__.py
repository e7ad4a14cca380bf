"""Delivery: queued requests -> QuickBooks, through whatever Web Connector session asks.

* :mod:`._service`: :class:`DeliveryService`, the session-level rules (exactly once, recovery);
* :mod:`._building`: what goes in the next message set; :mod:`._answers`: applying QuickBooks' answers;
* :mod:`._purchasing`: purchase orders read before a change or a receipt; :mod:`._lists`: name lists;
* :mod:`._cost`: QuickBooks time per request, predicted and learned; :mod:`._batch`: the typed values.

Every change of state goes through :mod:`connector.lifecycle`.
"""
from ._batch import Batch, Load, Progress, RequestKey, RequestKind
from ._cost import DEFAULT as DEFAULT_COST, Cost, CostBook
from ._lists import REF_LISTS, REF_PAGE
from ._service import Conversation, DeliveryService, last_contact, why_waiting

__all__ = ["Batch", "Conversation", "Cost", "CostBook", "DEFAULT_COST", "DeliveryService", "Load", "Progress",
           "REF_LISTS", "REF_PAGE", "RequestKey", "RequestKind", "last_contact", "why_waiting"]

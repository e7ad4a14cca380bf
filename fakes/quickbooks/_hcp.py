"""The host / company / preferences answers of the emulated QuickBooks.

``strHCPResponse`` for the first sendRequestXML of a QBWC session (research
§2), and HostQuery / CompanyQuery / PreferencesQuery.
"""
from __future__ import annotations

import re

from lxml import etree

from ._util import _sub


class _HCPMixin:
    """HCP part of :class:`~fakes.quickbooks.emulator.QuickBooksEmulator`."""

    # ================================================================= HCP

    @property
    def host_major_version(self) -> int:
        m = re.search(r"(\d+)\.\d+\s*$", self.product)
        if m:
            return int(m.group(1)) + 10  # Enterprise 23.0 == QuickBooks 2023 == version 33
        m = re.search(r"20(\d\d)", self.product)
        return int(m.group(1)) + 10 if m else 33

    def supported_versions(self) -> list[str]:
        major, minor = self.qbxml_version
        all_versions = ["1.0", "1.1", "2.0", "2.1", "3.0", "4.0", "4.1", "5.0", "6.0", "7.0",
                        "8.0", "9.0", "10.0", "11.0", "12.0", "13.0", "14.0", "15.0", "16.0"]
        out = []
        for v in all_versions:
            a, b = (int(x) for x in v.split("."))
            if (a, b) <= (major, minor):
                out.append(v)
        return out

    def hcp_response(self) -> str:
        """HostQueryRs + CompanyQueryRs + PreferencesQueryRs: ``strHCPResponse`` of the
        first sendRequestXML of a QBWC session (§2)."""
        with self._lock:
            root = etree.Element("QBXML")
            msgs = _sub(root, "QBXMLMsgsRs")
            for tag, fn in (("HostQuery", self._host_ret), ("CompanyQuery", self._company_ret),
                            ("PreferencesQuery", self._preferences_ret)):
                rs = self._rs(tag, None, 0)
                rs.append(fn())
                msgs.append(rs)
            return self._serialize(root)

    def _host_ret(self) -> etree._Element:
        r = etree.Element("HostRet")
        _sub(r, "ProductName", self.product)
        _sub(r, "MajorVersion", self.host_major_version)
        _sub(r, "MinorVersion", 0)
        _sub(r, "Country", self.country)
        for v in self.supported_versions():
            _sub(r, "SupportedQBXMLVersion", v)
        _sub(r, "IsAutomaticLogin", "false")
        _sub(r, "QBFileMode", "SingleUser")
        return r

    def _company_ret(self) -> etree._Element:
        r = etree.Element("CompanyRet")
        _sub(r, "IsSampleCompany", "false")
        _sub(r, "CompanyName", self.company_name[:59])
        _sub(r, "LegalCompanyName", self.company_name[:59])
        return r

    def _preferences_ret(self) -> etree._Element:
        r = etree.Element("PreferencesRet")
        a = _sub(r, "AccountingPreferences")
        for tag, v in (("IsUsingAccountNumbers", "false"), ("IsRequiringAccounts", "true"),
                       ("IsUsingClassTracking", "true"), ("IsUsingAuditTrail", "true"),
                       ("IsAssigningJournalEntryNumbers", "true")):
            _sub(a, tag, v)
        p = _sub(r, "PurchasesAndVendorsPreferences")
        _sub(p, "IsUsingInventory", "true")
        _sub(p, "DaysBillsAreDue", 10)
        _sub(p, "IsAutomaticallyUsingDiscounts", "false")
        return r

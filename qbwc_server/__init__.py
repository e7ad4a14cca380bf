"""QuickBooks Web Connector SOAP service (see ``qbwc_server.soap``).

``compat`` is imported first so that spyne 2.14.0 imports on Python 3.12+.
"""
from qbwc_server import compat as _compat  # noqa: F401  (must precede any spyne import)

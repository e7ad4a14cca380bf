"""qbedi core: settings, durable store, lifecycle, ingest and delivery services.

It imports only the domain packages (``edi``, ``qbxml_templates``); adapters plug in
from above (e.g. :func:`connector.sources.register_source_type`), and the entry
points (CLI, daemon, demo, runtime wiring) live in :mod:`qbedi`.
"""
__version__ = "0.1.0"

"""qbedi core: settings, durable store, services, daemon and CLI."""
__version__ = "0.1.0"

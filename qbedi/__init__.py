"""qbedi's entry points: the CLI, the daemon, the demo, the runtime wiring (the composition
root) and workspace creation — the only layer that knows every package.

Everything below points down: ``connector`` (the core) knows neither the adapters
(``cleo_client``, ``qbwc_server``) nor the fakes; :mod:`qbedi.runtime` imports the
adapters so their source types are registered before any config is read.
"""

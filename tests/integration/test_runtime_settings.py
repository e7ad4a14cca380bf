"""Settings that reach the running parts: a runtime built (with its database) from a config file (the
config file read on its own: tests/unit/test_settings.py)."""
import pytest

from connector.settings import ConfigError, load_settings


def test_trusted_proxies_reach_the_soap_service(tmp_path):
    from qbedi.runtime import build_runtime

    cfg = tmp_path / "qbedi.yaml"
    cfg.write_text(f"database: {{url: 'sqlite:///{tmp_path / 'q.db'}'}}\n"
                   "web_connector: {trusted_proxies: [127.0.0.1, 10.0.0.0/24]}\n")
    rt = build_runtime(load_settings(cfg), with_sources=False)
    try:
        assert [str(n) for n in rt.wsgi_app().trusted] == ["127.0.0.1/32", "10.0.0.0/24"]
    finally:
        rt.close()
    cfg.write_text("web_connector: {trusted_proxies: [my-proxy]}\n")
    with pytest.raises(ConfigError, match="'my-proxy' is not an IP address or network"):
        load_settings(cfg)

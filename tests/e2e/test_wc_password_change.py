"""A Web Connector password changed in qbedi.yaml while qbedi serves counts at the next login."""
import time

import yaml

from connector.passwords import hash_password
from connector.settings import load_settings
from fakes.qbwc_simulator import QBWCSimulator
from qbedi.runtime import build_runtime
from qbwc_server.server import start_in_thread
from tests.support.builders import PASSWORD, make_quickbooks, write_config


def test_a_password_changed_in_the_config_counts_at_the_next_login_without_a_restart(tmp_path, db_url):
    """Seen by an admin: the new password was refused and the old one kept working until a restart, and
    nothing said a restart was needed."""
    cfg = write_config(tmp_path, db_url)
    rt = build_runtime(load_settings(cfg), with_sources=False)
    qb = make_quickbooks()
    try:
        with start_in_thread(rt.wsgi_app(), "127.0.0.1", 0) as server:
            assert QBWCSimulator(server.url, "clerk", PASSWORD, qb).run().ended != "auth:nvu"
            raw = yaml.safe_load(cfg.read_text())
            raw["web_connector"]["users"][0]["password_hash"] = hash_password("a new one, rotated", n=2**10)
            time.sleep(1.1)  # (the config is looked at at most once a second)
            cfg.write_text(yaml.safe_dump(raw))
            time.sleep(1.1)
            assert QBWCSimulator(server.url, "clerk", PASSWORD, qb).run().ended == "auth:nvu"
            assert QBWCSimulator(server.url, "clerk", "a new one, rotated", qb).run().ended == "auth:none"
            from connector import views  # once it logged in, nothing says its password is wrong any more

            [company] = views.companies(rt.store, rt.settings)
            assert company["state"] == "running" and company["last_result"] == "OK: nothing queued"
            assert company["last_refused_login"]["at"] <= company["last_contact"].replace(" ", "T")
            cfg.write_text("web_connector: [broken")  # a config that no longer reads: the last good users
            time.sleep(1.1)
            assert QBWCSimulator(server.url, "clerk", "a new one, rotated", qb).run().ended != "auth:nvu"
    finally:
        rt.close()

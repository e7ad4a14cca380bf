"""The poller of `qbedi run` on a failing source: backoff, and the failure reported in the database."""
from qbedi.daemon import Poller
from qbedi.runtime import build_runtime
from connector.settings import load_settings
from connector.sources import SourceError
from connector.store import SourceState
from tests.support.builders import write_config


def test_failing_source_backs_off_and_reports(tmp_path, db_url):
    rt = build_runtime(load_settings(write_config(tmp_path, db_url)))
    calls = []

    class Down:
        name = "cleo"

        def list_new(self):
            calls.append(1)
            raise SourceError("Cleo rejected the credentials (HTTP 401): check `qbedi credentials set cleo`")

    poller = Poller(rt, Down(), base_interval=60)
    poller()
    poller()  # inside the backoff window: not even tried
    assert len(calls) == 1
    with rt.store.session() as s:
        st = s.get(SourceState, "cleo")
        assert st.consecutive_failures == 1 and "credentials" in st.last_error and st.next_poll_at is not None
    poller(force=True)  # `qbedi poll --once` ignores the window
    with rt.store.session() as s:
        st = s.get(SourceState, "cleo")
        assert st.consecutive_failures == 2
        first_delay = st.next_poll_at
    assert len(calls) == 2 and first_delay is not None
    rt.close()

"""qbwc_server.server.settle_heap: what exists at start-up is kept out of full collections."""
from __future__ import annotations


def test_settle_heap_keeps_long_lived_objects_out_of_full_collections():
    """`qbedi serve` / `qbedi run` freeze what exists at start-up: a full collection inside a Web
    Connector call then walks only what requests allocate (bench/qbwc.py: 50 ms -> 3-5 ms)."""
    import gc
    import weakref

    from qbwc_server.server import settle_heap

    long_lived = [{"n": i} for i in range(1000)]
    tracked = {id(o) for o in gc.get_objects()}
    assert id(long_lived) in tracked
    try:
        settle_heap()
        assert gc.get_freeze_count() >= len(long_lived)
        assert id(long_lived) not in {id(o) for o in gc.get_objects()}  # no longer walked by the collector
        class Node:
            pass

        garbage = Node()
        garbage.me = garbage  # a cycle made after start-up is still collected
        probe = weakref.ref(garbage)
        del garbage
        gc.collect()
        assert probe() is None
    finally:
        gc.unfreeze()

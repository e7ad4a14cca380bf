"""qbwc_server.server.wait_until_stopped: a SIGTERM at any moment stops `qbedi serve` / `qbedi run`."""
from __future__ import annotations

import threading


def test_waiting_for_stop_never_holds_the_lock_the_signal_handler_takes():
    """The SIGTERM handler runs on the main thread and calls ``stop.set()``, which takes the event's lock.
    The wait used to be ``stop.wait(0.5)``, which holds that lock for a moment each time round: a signal in
    that moment deadlocked the process (CI: `qbedi serve` given SIGTERM as its port opened never exited).
    Here the lock is held elsewhere, as the interrupted ``wait()`` held it, and the flag is set as ``set()``
    sets it: the waiter must see the flag without the lock. (Event's ``_cond`` / ``_flag`` are CPython's
    threading.Event internals.)"""
    from qbwc_server.server import wait_until_stopped

    stop = threading.Event()
    returned = threading.Event()
    stop._cond.acquire()
    try:
        waiter = threading.Thread(target=lambda: (wait_until_stopped(stop), returned.set()), daemon=True)
        waiter.start()
        assert not returned.wait(0.3)  # not stopped yet: it waits
        stop._flag = True  # what stop.set() does under the lock
        assert returned.wait(2), "wait_until_stopped blocked on the event's lock"
    finally:
        stop._cond.notify_all()
        stop._cond.release()
    waiter.join(2)
    assert not waiter.is_alive()

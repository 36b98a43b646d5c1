"""One media worker inside the test process: its C loop in a thread, no channel."""

from __future__ import annotations

import argparse
import contextlib
from typing import Iterator


@contextlib.contextmanager
def in_process_worker() -> Iterator:
    """a started sfu.worker.main.Worker; tests call its request handlers (on_<method>) directly"""
    from sfu.worker.main import Worker

    args = argparse.Namespace(worker_id=0, n_workers=1, ring_slots=64, wake_fds="", shm_fd=-1, shm_size=0,
                              listen_ip="127.0.0.1", announced_ip="127.0.0.1", port=0)
    w = Worker(args)
    w.start_native()
    try:
        yield w
    finally:
        w.stop_native()

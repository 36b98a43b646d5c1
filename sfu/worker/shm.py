"""The shared-memory region holding every worker-to-worker ring.

One memfd, created by the main process and inherited by the workers: it
vanishes with the last process that maps it, so nothing is ever left in
/dev/shm.  Ring (from, to) lives at sfu_shm_ring_offset(n, slots, from, to).
"""

from __future__ import annotations

import mmap
import os

from ..native import ffi, lib

DEFAULT_RING_SLOTS = 4096


class SharedRings:
    def __init__(self, n_workers: int, ring_slots: int = DEFAULT_RING_SLOTS) -> None:
        if ring_slots & (ring_slots - 1):
            raise ValueError("ring_slots must be a power of two")
        self.n_workers = n_workers
        self.ring_slots = ring_slots
        self.size = int(lib.sfu_shm_bytes(n_workers, ring_slots))
        self.fd = -1
        self._map: mmap.mmap | None = None
        if self.size:
            self.fd = os.memfd_create("sfu-rings", os.MFD_CLOEXEC)
            os.ftruncate(self.fd, self.size)
            self._map = mmap.mmap(self.fd, self.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            base = ffi.from_buffer(self._map)
            for a in range(n_workers):
                for b in range(n_workers):
                    if a != b:
                        off = lib.sfu_shm_ring_offset(n_workers, ring_slots, a, b)
                        if lib.sfu_ring_init(base + off, ring_slots) == ffi.NULL:
                            raise RuntimeError("ring init failed")
            del base

    def fill(self) -> dict[tuple[int, int], tuple[int, int]]:
        """(from worker, to worker) -> (messages published and not yet read, slots); read
        without locking (the ring's positions are atomics)"""
        out: dict[tuple[int, int], tuple[int, int]] = {}
        if self._map is None:
            return out
        base = ffi.from_buffer(self._map)
        try:
            for a in range(self.n_workers):
                for b in range(self.n_workers):
                    if a != b:
                        r = lib.sfu_ring_attach(base + lib.sfu_shm_ring_offset(self.n_workers, self.ring_slots, a, b),
                                                self.ring_slots)
                        if r != ffi.NULL:
                            out[(a, b)] = (int(lib.sfu_ring_pending(r)), self.ring_slots)
        finally:
            del base
        return out

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def attach(fd: int, size: int) -> mmap.mmap:
    """map the region in a worker"""
    return mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)

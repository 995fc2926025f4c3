"""The host allocator settings (``seqlab.host_memory``): memory a step frees is kept for the
next step (no page faults on reuse), and the user's own malloc settings are left alone."""

import ctypes
import os
import platform
import subprocess
import sys

import pytest

from seqlab.host_memory import keep_freed_host_memory, user_tunes_malloc

glibc = pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc",
                           reason="the settings are glibc's")

# A step's worth of blocks (10 x 8 MiB) allocated and freed; prints how much of it the
# allocator keeps for reuse (mallinfo2's free bytes): kept, the next step reuses those pages;
# handed back, it faults each one in again.
PROBE = """
import ctypes, sys, torch
from seqlab.host_memory import keep_freed_host_memory
print(keep_freed_host_memory() if sys.argv[1] == "set" else "default")
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
def step():
    blocks = [torch.ones(2**21) for _ in range(10)]
    del blocks
step()
print(libc.mallinfo2().fordblks)
"""
STEP = 10 * 2**23  # bytes


def _probe(mode: str, **env) -> tuple[str, int]:
    """(whether the settings were made, bytes kept after a step)"""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                         env={**clean, **env}).stdout.split()
    return out[0], int(out[1])


def _has_mallinfo2() -> bool:
    return sys.platform == "linux" and hasattr(ctypes.CDLL(None), "mallinfo2")


needs_mallinfo2 = pytest.mark.skipif(not _has_mallinfo2(), reason="mallinfo2 is glibc >= 2.33")


@glibc
@needs_mallinfo2
def test_a_steps_freed_blocks_are_kept_for_the_next():
    state, kept = _probe("set")
    assert state == "True"
    assert kept >= STEP  # all 80 MiB held for reuse
    _, kept_by_default = _probe("default")
    assert kept_by_default < STEP / 8  # glibc's defaults: mapped alone and handed back at once


@glibc
@needs_mallinfo2
def test_the_users_own_malloc_settings_stand():
    state, kept = _probe("set", MALLOC_MMAP_THRESHOLD_=str(2**20))
    assert state == "False"
    assert kept < STEP / 8  # blocks over 1 MiB mapped alone and handed back, as asked


def test_which_settings_are_the_users():
    assert not user_tunes_malloc({"PATH": "/bin"})
    assert user_tunes_malloc({"MALLOC_MMAP_THRESHOLD_": "65536"})
    assert user_tunes_malloc({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"})
    assert not user_tunes_malloc({"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2"})


def test_elsewhere_nothing_is_changed(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert keep_freed_host_memory() is False

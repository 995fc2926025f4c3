"""The host allocator settings (``seqlab.host_memory``): memory a step frees is kept for the
next step (no page faults on reuse), and the user's own malloc settings are left alone."""

import os
import platform
import subprocess
import sys

import pytest

from seqlab.host_memory import keep_freed_host_memory, user_tunes_malloc

glibc = pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc",
                           reason="the settings are glibc's")

# 40 blocks of 2 MiB allocated and freed five times, like a step's activations; prints the
# page faults of the last four rounds (the first round may fault: the memory is new).
PROBE = """
import resource, sys, torch
from seqlab.host_memory import keep_freed_host_memory
print(keep_freed_host_memory() if sys.argv[1] == "set" else "default")
def step():
    blocks = [torch.ones(2**19) for _ in range(40)]
    del blocks
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str, **env) -> tuple[str, int]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                         env={**clean, **env}).stdout.split()
    return out[0], int(out[1])


@glibc
def test_freed_blocks_are_reused_without_page_faults():
    state, kept = _faults("set")
    _, default = _faults("default")
    assert state == "True"
    assert default > 4 * 40 * 2**21 // 4096 // 2  # glibc's defaults hand most of the 80 MiB back each round
    assert kept < default / 20  # kept: reused in place


@glibc
def test_the_users_own_malloc_settings_stand():
    state, faults = _faults("set", MALLOC_TRIM_THRESHOLD_="0")
    assert state == "False"
    assert faults > 4 * 40 * 2**21 // 4096 // 2  # trim threshold 0: handed back every round, as asked


def test_which_settings_are_the_users():
    assert not user_tunes_malloc({"PATH": "/bin"})
    assert user_tunes_malloc({"MALLOC_MMAP_THRESHOLD_": "65536"})
    assert user_tunes_malloc({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"})
    assert not user_tunes_malloc({"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2"})


def test_elsewhere_nothing_is_changed(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert keep_freed_host_memory() is False

"""The local Cloud Run's memory limit: Cloud Run's quantities, and the kernel enforcing them."""

import subprocess
import sys

import pytest

from local_stack.cgroups import MemoryLimit, parse_bytes


@pytest.mark.parametrize("quantity, expected", [("512Mi", 512 * 2**20), ("2Gi", 2 * 2**30), ("1G", 10**9),
                                                ("720Mi", 720 * 2**20), ("1.5Gi", int(1.5 * 2**30))])
def test_quantities_as_cloud_run_takes_them(quantity, expected):
    assert parse_bytes(quantity) == expected


@pytest.mark.parametrize("bad", ["", "lots", "5 Mi", "-1Gi"])
def test_a_bad_quantity_is_refused(bad):
    with pytest.raises(ValueError, match="not a memory quantity"):
        parse_bytes(bad)


def test_a_process_over_its_limit_is_killed_and_its_peak_reads_as_full():
    limit = MemoryLimit.create(64 * 2**20)
    if limit is None:
        pytest.skip("the cgroup v1 memory controller is not writable here")
    try:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5); b = bytearray(256 << 20)"])
        limit.add(child.pid)
        assert child.wait(30) == -9  # SIGKILL from the kernel, as Cloud Run stops an instance
        assert limit.utilization() >= 0.9
    finally:
        limit.remove()

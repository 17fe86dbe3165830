"""deploy/image/run_check.py: a run's process tree is found whole, and a leftover is seen."""

from __future__ import annotations

import signal
import subprocess
import time

from deploy.image.run_check import process_tree, still_alive


def test_the_whole_tree_is_found_and_a_survivor_is_reported():
    # The shell traps SIGTERM and exits, leaving its background child running: a leftover.
    proc = subprocess.Popen(["sh", "-c", "trap 'exit 0' TERM; sleep 30 & wait"], start_new_session=True)
    try:
        deadline = time.monotonic() + 5
        while len(tree := process_tree(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.pid in tree and len(tree) == 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        survivors = still_alive(tree)
        assert len(survivors) == 1 and survivors[0] != proc.pid
    finally:
        for pid in still_alive(process_tree(proc.pid)) + still_alive(tree):
            subprocess.run(["kill", "-9", str(pid)], capture_output=True)
    time.sleep(0.2)
    assert still_alive(tree) == []

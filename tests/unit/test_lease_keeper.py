"""The lease keeper: renews on its own thread, survives a failed renewal, notices a lost lease."""

import threading
import time

from adapters.leases import LeaseStore
from gpu_service.lease_keeper import LeaseKeeper


class ScriptedLeases(LeaseStore):
    """Answers renewals from a script: True (held), False (taken over) or an exception."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.renewals: list[str] = []  # the name of the thread each renewal ran on

    def acquire(self, key, holder, seconds):
        return 1

    def renew(self, key, holder, seconds):
        self.renewals.append(threading.current_thread().name)
        answer = self.answers.pop(0) if self.answers else True
        if isinstance(answer, Exception):
            raise answer
        return answer

    def release(self, key, holder):
        pass

    def held(self, key):
        return True


def test_it_renews_on_its_own_thread_until_stopped():
    leases = ScriptedLeases([])
    with LeaseKeeper(leases, "job-1", "me", seconds=1, every=0.02) as keeper:
        time.sleep(0.2)
    count = len(leases.renewals)
    time.sleep(0.1)
    assert count >= 4 and len(leases.renewals) == count  # stopped with the block
    assert threading.current_thread().name not in leases.renewals and not keeper.lost


def test_a_failed_renewal_is_retried_and_a_lost_lease_is_remembered():
    leases = ScriptedLeases([ConnectionError("firestore unavailable"), True, False, True])
    with LeaseKeeper(leases, "job-1", "me", seconds=1, every=0.02) as keeper:
        time.sleep(0.3)
        assert keeper.lost
    assert len(leases.renewals) == 3  # no renewal after the loss

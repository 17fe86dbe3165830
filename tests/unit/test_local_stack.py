"""The local stack's process handling: groups die whole, missing tools are named."""

import os
import time

import pytest

from local_stack import prerequisites
from local_stack import stack as stack_module
from processes import Child, StackError


def test_stopping_a_child_stops_its_whole_tree(tmp_path):
    # A launcher that leaves a grandchild behind, as the Firestore emulator's script does with java.
    child = Child("launcher", ["bash", "-c", "sleep 300 & sleep 300 & wait"], dict(os.environ),
                  tmp_path / "launcher.log", port=1)
    child.start()
    time.sleep(0.3)
    group = child.proc.pid
    os.killpg(group, 0)  # the group is alive
    child.stop(grace=2)
    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)


def test_a_child_that_dies_during_start_is_reported_with_its_log(tmp_path):
    child = Child("broken", ["bash", "-c", "echo cannot bind >&2; exit 3"], dict(os.environ),
                  tmp_path / "broken.log", port=1)
    child.start()
    with pytest.raises(StackError, match="(?s)broken exited with 3.*cannot bind"):
        child.wait_ready(10)


def test_doctor_names_what_to_install(monkeypatch):
    monkeypatch.setattr(prerequisites.shutil, "which", lambda name: None)
    problems = "\n".join(prerequisites.doctor())
    assert "openjdk-17-jre-headless" in problems and "google-cloud-cli" in problems


def test_the_stack_refuses_to_start_without_its_tools(monkeypatch, tmp_path):
    monkeypatch.setattr(prerequisites.shutil, "which", lambda name: None)
    with pytest.raises(StackError, match="Java 17"):
        with stack_module.Stack(workdir=tmp_path):
            pass

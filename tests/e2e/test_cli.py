"""The commands a developer runs: `python -m local_stack process` and `demo` (what `make demo` runs)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from local_stack import contact_sheet
from local_stack.stack import ROOT, leftover_processes
from tests.e2e.helpers import photo_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "local_stack", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def run_id(stderr: str) -> str:
    return re.search(r"\(run ([0-9a-f]{32})\)", stderr).group(1)


def test_process_prints_one_json_line_per_file_and_leaves_nothing_running(tmp_path):
    good, liar = tmp_path / "cat.webp", tmp_path / "cat.png"
    good.write_bytes(photo_bytes("WEBP", size=(300, 200)))
    liar.write_bytes(b"not a png")
    result = run_cli("process", str(good), str(liar), "--out", str(tmp_path / "out"), "--format", "webp")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [set(r) for r in rows] == [{"file", "job_id", "status", "reason", "result", "timings"}] * 2
    assert (rows[0]["status"], rows[1]["status"], rows[1]["reason"]) == ("done", "rejected", "not_an_image")
    assert Image.open(rows[0]["result"]).size == (300, 200)
    assert leftover_processes(run_id(result.stderr)) == []


def test_demo_finishes_every_valid_photo(tmp_path):
    out = tmp_path / "out"
    result = run_cli("demo", "--out", str(out))
    assert result.returncode == 0, result.stderr + result.stdout
    cut_outs = sorted(p.name for p in out.glob("*.png") if p.name != "contact_sheet.png")
    assert cut_outs == ["chelsea-jpg.png", "chelsea-phone-jpg.png", "chelsea-png.png", "chelsea-webp.png"]
    # Stored sideways with EXIF orientation 6: the cut-out is upright, like the original.
    assert Image.open(out / "chelsea-phone-jpg.png").size == Image.open(out / "chelsea-jpg.png").size == (451, 300)
    assert re.search(r"not-a-photo.jpg .* rejected \(expected\) .* not_an_image", result.stdout)
    # The contact sheet: one row per input (the liar included), three panels each.
    assert Image.open(out / "contact_sheet.png").size == contact_sheet.sheet_size(len(list((out / "inputs").iterdir())))
    assert leftover_processes(run_id(result.stderr)) == []

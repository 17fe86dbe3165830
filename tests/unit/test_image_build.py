"""deploy/image: where the CI build takes its Debian mirror, torch index and build arguments from."""

from __future__ import annotations

import pytest

from deploy.image.base import debian_mirror, dockerfile_arg
from deploy.image.build import local_torch_index


def test_mirror_from_deb822_sources_skips_security(tmp_path):
    (tmp_path / "debian.sources").write_text(
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n")
    assert debian_mirror((tmp_path / "none.list", tmp_path)) == "http://mirror.example/debian"


def test_mirror_from_a_one_line_list(tmp_path):
    listing = tmp_path / "sources.list"
    listing.write_text("# comment\ndeb [arch=amd64] http://other.example/debian bookworm main\n")
    assert debian_mirror((listing,)) == "http://other.example/debian"


def test_no_bookworm_mirror_is_one_clear_error(tmp_path):
    (tmp_path / "x.list").write_text("deb http://old.example/debian bullseye main\n")
    with pytest.raises(RuntimeError, match="no Debian bookworm mirror"):
        debian_mirror((tmp_path,))


def test_dockerfile_defaults_are_read(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("ARG BASE_IMAGE=debian:12.15-slim\nFROM ${BASE_IMAGE}\nARG EMPTY=\n")
    assert dockerfile_arg("BASE_IMAGE", dockerfile) == "debian:12.15-slim"
    with pytest.raises(ValueError, match="no default for ARG EMPTY"):
        dockerfile_arg("EMPTY", dockerfile)


def test_the_local_index_is_the_one_holding_that_torch(tmp_path):
    for name, version in (("a", "2.13.0"), ("b", "2.14.1")):
        (tmp_path / name / "simple" / "torch").mkdir(parents=True)
        (tmp_path / name / "simple" / "torch" / "index.html").write_text(f'<a href="x">torch-{version}-cp311.whl</a>')
    config = {"global.extra-index-url": f"file://{tmp_path}/a/simple https://pypi.org/simple file://{tmp_path}/b/simple"}
    assert local_torch_index("2.14.1", config) == f"file://{tmp_path}/b/simple"
    with pytest.raises(RuntimeError, match="no local package index with torch 9.9"):
        local_torch_index("9.9", config)

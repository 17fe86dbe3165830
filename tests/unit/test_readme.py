"""The README's promises stay true: every setting is documented, the two commands are there."""

from pathlib import Path

from settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table():
    missing = [name.upper() for name in Settings.model_fields if f"| `{name.upper()}` |" not in README]
    assert missing == []


def test_the_two_commands_are_given():
    assert "make demo" in README and "make test" in README


def test_the_layout_table_names_every_folder_and_only_folders_that_exist():
    import re
    import subprocess

    root = Path(__file__).resolve().parents[2]
    tracked = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.split()
    folders = {path.split("/")[0] for path in tracked if "/" in path and not path.startswith(".")}
    table = README[README.index("| folder | what it is |"):]
    table = table[:table.index("\n\n")]
    first_cells = [row.split("|")[1] for row in table.splitlines()[2:]]
    named = {name.rstrip("/") for cell in first_cells for name in re.findall(r"`([\w.]+/?)`", cell)}
    assert folders - named == set(), "folders missing from the README's layout table"
    assert {n for n in named if not (root / n).exists()} == set(), "the table names what does not exist"

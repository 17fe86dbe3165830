"""The README's promises stay true: every setting is documented, the two commands are there."""

from pathlib import Path

from settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table():
    missing = [name.upper() for name in Settings.model_fields if f"| `{name.upper()}` |" not in README]
    assert missing == []


def test_the_two_commands_are_given():
    assert "make demo" in README and "make test" in README

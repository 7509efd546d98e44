import re
from pathlib import Path

import drl
import drl.decode
import drl.plots
import drl.spice
import drl.sweep
import drl.widgets

ROOT = Path(__file__).resolve().parents[1]


def test_every_public_name_is_documented():
    text = (ROOT / "docs" / "drl.md").read_text()
    missing = [n for n in drl.__all__ + drl.plots.__all__ + drl.decode.__all__ + drl.widgets.__all__ + drl.sweep.__all__ + drl.spice.__all__ if not re.search(rf"`{re.escape(n)}\b", text)]
    assert not missing, f"public names without an entry in docs/drl.md: {missing}"


def test_readme_shows_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme

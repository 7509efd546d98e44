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


def test_submodules_are_reachable_after_import_drl():
    # the README writes drl.plots.… after a bare `import drl`: run that in a fresh process
    import subprocess
    import sys

    code = "import drl, sys; assert 'drl.plots' not in sys.modules; print(drl.plots.val_at_t.__name__, drl.sweep.sweep.__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["val_at_t", "sweep"]

import os
import re
from pathlib import Path

import pytest

import drl
import drl.decode
import drl.plots
import drl.reproduce
import drl.spice
import drl.sweep
import drl.widgets

ROOT = Path(__file__).resolve().parents[1]


def test_every_public_name_is_documented():
    """Beyond its generated reference page, every public name is met in the user guide's text, where a task
    needs it (the guide links each to its page)."""
    text = "\n".join(path.read_text() for path in (ROOT / "docs" / "guide").glob("*.md"))
    names = (drl.__all__ + drl.plots.__all__ + drl.decode.__all__ + drl.widgets.__all__ + drl.sweep.__all__
             + drl.spice.__all__ + drl.responses.__all__ + drl.reproduce.__all__)
    missing = [n for n in names if not re.search(rf"\b{re.escape(n)}\b", text)]
    assert not missing, f"public names the guide never mentions: {missing}"


def test_readme_shows_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme


@pytest.mark.slow
def test_submodules_are_reachable_after_import_drl():
    # the README writes drl.plots.… after a bare `import drl`: run that in a fresh process
    import subprocess
    import sys

    code = "import drl, sys; assert 'drl.plots' not in sys.modules; print(drl.plots.val_at_t.__name__, drl.sweep.sweep.__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["val_at_t", "sweep"]


def _code_blocks(path):
    """(info string, code) of each fenced block of a Markdown file, in order."""
    return re.findall(r"^```([^\n]*)\n(.*?)^```", path.read_text(), flags=re.S | re.M)


@pytest.mark.slow
def test_the_readme_pasted_into_one_script_runs_and_runs_again(tmp_path):
    # What a reader does: paste the README's Python blocks into one file and run it, then run it again. Local
    # sweep workers must not re-run the script (it once failed, blaming a __main__ guard that was there), and a
    # second run must not fail on the first run's files.
    import subprocess
    import sys

    script = tmp_path / "readme.py"
    script.write_text("\n".join(code for info, code in _code_blocks(ROOT / "README.md") if info.strip() == "python"))
    env = {**os.environ, "MPLBACKEND": "Agg"}
    for attempt in ("first", "second"):
        done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, env=env,
                              timeout=600)
        assert done.returncode == 0, f"the README as one script failed on its {attempt} run:\n{done.stderr[-3000:]}"
        assert "Traceback" not in done.stderr and "killing" not in done.stderr, done.stderr[-3000:]
    assert (tmp_path / "exps" / "dabney.nc").is_file() and len(list((tmp_path / "exps" / "lam_alpha").glob("*.nc"))) == 4


GUIDE = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "docs" / "guide").glob("*.md")
               if "{code-cell}" in path.read_text())


def _cell_code(info: str, code: str) -> str | None:
    """The Python of a fenced block: a ``python`` block, or a MyST-NB code cell without its option lines."""
    if info.strip() == "python":
        return code
    if info.strip().startswith("{code-cell}"):
        return "\n".join(line for line in code.splitlines() if not line.startswith(":")) + "\n"
    return None


@pytest.mark.slow
@pytest.mark.parametrize("document", GUIDE)
def test_code_blocks_run_as_written(document, tmp_path):
    # Each Python block (or notebook cell of a guide page) runs as a script of its own in a fresh process, in the
    # document's order, in one folder (later blocks may use what earlier ones saved); a block whose info string
    # names a file is written there. The guide's pages also run when the site is built (make docs, in CI); here
    # the one on a lab's files runs on the real recordings where they are.
    import subprocess
    import sys

    blocks = _code_blocks(ROOT / document)
    python = [cell for info, code in blocks if (cell := _cell_code(info, code)) is not None]
    assert python, f"{document} has no Python block"
    for info, code in blocks:
        parts = info.split()
        if len(parts) == 2 and parts[0] in ("toml", "json"):
            (tmp_path / parts[1]).write_text(code)
    env = {**os.environ, "MPLBACKEND": "Agg"}
    sessions = ROOT.parent / "shared" / "data" / "dopamine_real" / "eshel_dabney_varmag" / "light_id_da"
    if sessions.is_dir():  # the how-to on a lab's files runs on the real ones where they are
        env["DRL_SESSION_FILES"] = str(sessions)
    scripts = ["".join(python)]  # a notebook's cells share one namespace: a page runs as one script
    for index, code in enumerate(scripts):
        script = tmp_path / f"block_{index}.py"
        script.write_text(code)
        done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, env=env,
                              timeout=600)
        assert done.returncode == 0, f"{document} block {index} failed:\n{code[-3000:]}\n{done.stderr[-3000:]}"
    if any("drl.save(" in code for code in python):
        assert list((tmp_path / "exps").glob("*.nc")), "a block saved a run and exps/ holds none"


def test_no_link_leaves_the_repository():
    guide = [str(path.relative_to(ROOT)) for path in (ROOT / "docs" / "guide").glob("*.md")]
    for document in ("README.md", "docs/drl.md", *guide):
        text = (ROOT / document).read_text()
        assert "../shared" not in text and "DESIGN.md" not in text, document


def _modules_with_examples() -> list[str]:
    """Every drl module whose source has a docstring example (``>>>``): found, not listed by hand."""
    package = ROOT / "drl"
    return sorted(".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                  for path in package.rglob("*.py") if ">>> " in path.read_text())


@pytest.mark.parametrize("module", _modules_with_examples())
def test_docstring_examples_run(module):
    """Every Examples section runs as written, in the suite (what ``pytest --doctest-modules drl`` would run)."""
    import doctest
    import importlib

    failed, attempted = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert attempted > 0 and failed == 0


def test_the_package_says_it_is_typed():
    """PEP 561: ``py.typed`` ships with drl (package data), so IDEs and type checkers read its annotations."""
    import importlib.resources
    import tomllib
    from pathlib import Path

    assert importlib.resources.files("drl").joinpath("py.typed").is_file()
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["drl"]


def test_no_signature_is_typed_by_hand_in_the_docs():
    """The reference is generated from the code; the docs name a function by a link to its page ({py:obj}),
    never by a signature typed beside it (eight of 111 had drifted from the code when they were typed)."""
    typed = []
    for path in [*(ROOT / "docs").rglob("*.md"), ROOT / "README.md"]:
        if "_build" in path.parts or "api" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.match(r"^#{1,6} ", line) and re.search(r"`[A-Za-z_][\w.]*\([^`]*\)`", line):
                typed.append(f"{path.relative_to(ROOT)}:{number}: {line}")
    assert not typed, "\n".join(typed)


def test_every_public_name_has_a_numpydoc_docstring_with_parameters_returns_and_examples():
    """numpydoc's own validation on each package's ``__all__``: a docstring (GL08) whose Parameters section
    documents every parameter (PR01) and no other (PR02), a Returns section (RT01) and an Examples section (EX01).
    Every one is converted: a new public name comes with its docstring."""
    import importlib
    import types

    from numpydoc.validate import validate

    checks = {"GL08", "PR01", "PR02", "EX01", "RT01"}
    problems = []
    for package in ("drl", "drl.decode", "drl.responses", "drl.plots", "drl.sweep", "drl.spice"):
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if not callable(obj) or isinstance(obj, types.ModuleType):
                continue  # a constant's page shows its value; drl.decode is a package with its own page
            errors = [f"{code} {text}" for code, text in validate(f"{package}.{name}")["errors"] if code in checks]
            if errors:
                problems.append(f"{package}.{name}: " + "; ".join(errors))
    assert not problems, "\n".join(problems)


def test_every_public_name_has_a_page_in_the_reference(tmp_path):
    """The reference is generated from each package's ``__all__`` (docs/conf.py): every public name, constants
    included (their page shows the value), is an entry of its package's autosummary table, which gives it a page
    of its own; and every public module is on the modules page. ``make docs`` (in CI) builds them all with
    warnings as errors."""
    import importlib
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_conf", ROOT / "docs" / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    conf._write_api_pages(tmp_path)
    for package in conf.PACKAGES:
        page = (tmp_path / f"{package}.md").read_text()
        table = page.split(":toctree: generated", 1)[1].split("```", 1)[0]
        listed = {line.strip() for line in table.splitlines() if line.strip()}
        public = set(importlib.import_module(package).__all__)
        assert listed == public, (package, sorted(public ^ listed))
    modules = (tmp_path / "modules.md").read_text()
    for path in (ROOT / "drl").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if not any(part.startswith("_") and part != "__init__" for part in parts):
            assert f".. automodule:: {'.'.join(parts).removesuffix('.__init__')}" in modules, path


"""Sphinx configuration of drl's documentation site (``make docs``).

The API reference is generated from the code: one page per package, listing its ``__all__`` (autosummary), each
name documented by its own docstring (numpydoc). No signature is typed here.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import drl

project = "drl"
author = "the drl developers"
release = version = drl.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.autosummary", "numpydoc", "sphinx.ext.mathjax"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "gallery/**"]
templates_path = ["_templates"]
html_theme = "pydata_sphinx_theme"
html_title = f"drl {version}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
myst_heading_anchors = 3

autosummary_generate = True
autodoc_inherit_docstrings = False  # drl.plots.Figure is a matplotlib Figure: its docs are matplotlib's
autodoc_typehints = "none"  # the numpydoc Parameters section says the types, with shapes and units
numpydoc_show_class_members = False
numpydoc_validation_checks: set = set()  # validated in the tests (tests/test_docs_and_api.py), not at build time

#: the packages whose ``__all__`` is the public API, each a page of the reference
PACKAGES = ("drl", "drl.decode", "drl.responses", "drl.plots", "drl.sweep", "drl.spice")
HERE = Path(__file__).parent


def _write_api_pages() -> None:
    """One page per package: its docstring's first line and an autosummary table of its ``__all__``."""
    folder = HERE / "api"
    folder.mkdir(exist_ok=True)
    pages = []
    for name in PACKAGES:
        module = importlib.import_module(name)
        summary = (module.__doc__ or name).strip().splitlines()[0]
        lines = [f"# `{name}`", "", summary, "", "```{eval-rst}", f".. currentmodule:: {name}", "",
                 ".. autosummary::", "   :toctree: generated", ""]
        lines += [f"   {entry}" for entry in sorted(module.__all__, key=str.lower)
                  if not entry.isupper()]  # constants are documented in their module's text
        lines += ["```", ""]
        (folder / f"{name}.md").write_text("\n".join(lines))
        pages.append(name)
    index = ["# API reference", "", "Generated from the code: each package's public names (`__all__`), each "
             "documented by its docstring.", "", "```{toctree}", ":maxdepth: 1", ""] + pages + ["```", ""]
    (folder / "index.md").write_text("\n".join(index))



# written as the configuration is read: autosummary looks for its tables before any event of this file runs
_write_api_pages()

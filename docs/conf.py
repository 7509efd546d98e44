"""Sphinx configuration of drl's documentation site (``make docs``).

The API reference is generated from the code: one page per package, listing its ``__all__`` (autosummary), each
name documented by its own docstring (numpydoc). No signature is typed here.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import drl

project = "drl"
author = "the drl developers"
release = version = drl.__version__

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.autosummary", "numpydoc", "sphinx.ext.mathjax",
              "sphinx_gallery.gen_gallery"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}  # .rst first: autosummary writes its pages in it
root_doc = "index"
exclude_patterns = ["_build", "gallery/**", "examples/*.ipynb", "examples/*.py", "examples/*.zip",
                    "examples/*.md5", "examples/*/*.ipynb", "examples/*/*.py", "examples/*/*.zip", "examples/*/*.md5",
                    "jupyter_execute"]

# The user guide's pages are notebooks in MyST text: their code runs at build time (cached by its content, so an
# unchanged page is not run again); an error in a cell fails the build.
nb_execution_mode = "cache"
nb_execution_cache_path = str(Path(__file__).parent / "_build" / ".jupyter_cache")
nb_execution_raise_on_error = True
nb_execution_timeout = 300
nb_execution_show_tb = True
nb_execution_in_temp = True  # a page's runs and figures (exps/, figs/) go to a temporary folder, not into docs/


def _quiet_kernels() -> None:
    """The guide's kernels, started on local TCP, each log a warning about unencrypted transport at start-up: an
    IPython profile of the build's own (under _build) sets their log level, so ``make docs`` prints only what
    matters. The user's own IPython settings are not touched."""
    import os

    profile = Path(__file__).parent / "_build" / ".ipython" / "profile_default"
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "ipython_kernel_config.py").write_text('c.IPKernelApp.log_level = "ERROR"\n')
    os.environ["IPYTHONDIR"] = str(profile.parent)


_quiet_kernels()

# The gallery: every script of examples/ runs at build time and its figures are the page's (sphinx-gallery).
sphinx_gallery_conf = {
    "examples_dirs": str(Path(__file__).parents[1] / "examples"),
    "gallery_dirs": "examples",
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
    "show_memory": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("gallery_reset.reset_matplotlib",),  # docs/gallery_reset.py
    "matplotlib_animations": (True, "jshtml"),  # a player in the page, as in a notebook (no ffmpeg needed)
}

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

# Every cross-reference resolves (nitpicky; `make docs` turns warnings into errors). References into the libraries
# drl builds on would need their inventories, fetched over the network at build time: they stay plain text instead.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|xarray|xr|matplotlib|mpl|pandas|pd|torch|nn|scipy|sklearn|dask|distributed|pynapple|nap|"
               r"pynwb|pysindy|ps|datetime|pathlib|warnings|collections|typing|os|tqdm|numba)(\..*)?"),
    (r"py:class", r"(array_like|array-like|callable|optional|path|path-like|file-like|int|float|str|bool|dict|list|"
                  r"tuple|type|object|sequence|iterable|mapping|None|default|representation|agent|pysindy .*)"),
]

#: the packages whose ``__all__`` is the public API, each a page of the reference
PACKAGES = ("drl", "drl.decode", "drl.responses", "drl.plots", "drl.sweep", "drl.spice")
HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))  # gallery_reset, named in sphinx_gallery_conf by its import path (kept picklable)


def _write_api_pages(folder: Path = HERE / "api") -> None:
    """One page per package: its docstring's first line and an autosummary table of its ``__all__``; and the
    page of every module."""
    folder.mkdir(exist_ok=True)
    pages = []
    for name in PACKAGES:
        module = importlib.import_module(name)
        summary = (module.__doc__ or name).strip().splitlines()[0]
        lines = [f"# `{name}`", "", summary, "", "```{eval-rst}", f".. currentmodule:: {name}", "",
                 ".. autosummary::", "   :toctree: generated", ""]
        lines += [f"   {entry}" for entry in sorted(module.__all__, key=str.lower)]  # constants too: their values
        lines += ["```", ""]
        (folder / f"{name}.md").write_text("\n".join(lines))
        pages.append(name)
    # every module, its docstring (what it is for): the architecture as the folder listing shows it
    modules = ["# Modules", "", "Every module of drl, by package, with what it is for. The public names are documented "
               "on their packages' pages.", ""]
    for path in sorted((HERE.parent / "drl").rglob("*.py")):
        parts = path.relative_to(HERE.parent).with_suffix("").parts
        if any(part.startswith("_") and part != "__init__" for part in parts):
            continue  # private modules
        name = ".".join(parts).removesuffix(".__init__")
        documented = name in {f"drl.{entry}" for entry in drl.__all__}  # a package with a page of its own
        modules += [f"## `{name}`", "", "```{eval-rst}", f".. automodule:: {name}", "   :no-members:"]
        modules += ["   :no-index:"] if documented else []
        modules += ["```", ""]
    (folder / "modules.md").write_text("\n".join(modules))
    index = ["# API reference", "", "Generated from the code: each package's public names (`__all__`), each "
             "documented by its docstring.", "", "```{toctree}", ":maxdepth: 1", ""] + pages + ["modules", "```", ""]
    (folder / "index.md").write_text("\n".join(index))



def _resolve_within_drl(app, env, node, contnode):
    """A reference Sphinx did not find, resolved the way a reader would: a name written relative to the module
    it appears in (``classify_cue_cells`` in drl.decode.sessions' text) goes to the public page of the object it
    names; an object documented on no page of its own (a private class of the engine) goes to its module's
    entry on the modules page. Anything else stays unresolved, and the build fails on it."""
    import sys

    from sphinx.util.nodes import make_refnode

    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    objects = env.get_domain("py").objects
    context = node.get("py:module") or ""
    found = None
    try:  # the object the name means where it is written
        obj = importlib.import_module(context) if context else None
        for part in target.removeprefix(context + ".").split("."):
            obj = getattr(obj, part)
        found = obj
    except (AttributeError, ImportError, TypeError, ValueError):
        try:
            module, _, attribute = target.rpartition(".")
            found = getattr(importlib.import_module(module), attribute) if module else None
        except (AttributeError, ImportError, ValueError):
            found = None
    if found is None:  # a name written relative to where it is defined: the one drl module that has it
        head, *rest = target.split(".")
        owners = {id(getattr(module, head)): getattr(module, head) for name, module in list(sys.modules.items())
                  if name.startswith("drl.") and module is not None and getattr(module, head, None) is not None}
        found = next(iter(owners.values())) if len(owners) == 1 else None
        for part in rest if found is not None else ():
            found = getattr(found, part, None)
    if found is None:
        return None
    public = [name for name, entry in objects.items() if entry.objtype != "module" and
              name.rsplit(".", 1)[-1] == target.rsplit(".", 1)[-1] and
              _object_of(name) is found]
    if public:
        name = min(public, key=len)
    else:
        module = getattr(found, "__module__", None) if not isinstance(found, type(sys)) else found.__name__
        if module not in objects:
            return None
        name = module
    entry = objects[name]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, name)


def _object_of(name: str):
    """The Python object a documented name stands for (None when it cannot be imported)."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for part in parts[cut:]:
                obj = getattr(obj, part)
        except AttributeError:
            return None
        return obj
    return None


def _skip_foreign_members(app, what, name, obj, skip, options):
    """A class's members on its page are drl's own: drl.plots.Figure's hundreds of matplotlib methods (and
    scikit-learn's metadata-routing setters of SpiceEstimator) are documented by their libraries."""
    module = getattr(obj, "__module__", None) or getattr(getattr(obj, "fget", None), "__module__", None)
    if what == "class" and module is not None and not module.startswith("drl"):
        return True
    return None


def _constant_docstring(app, what, name, obj, options, lines):
    """A constant's page: its ``#:`` comment where it is defined (a package only re-exports it), else where it is
    defined; never the docstring of its type (``int([x]) -> integer``)."""
    import sys

    from sphinx.pycode import ModuleAnalyzer

    if what != "data":
        return
    lines.clear()
    short = name.rsplit(".", 1)[-1]
    import re

    for module_name, module in sorted(sys.modules.items()):
        if not module_name.startswith("drl.") or hasattr(module, "__path__") or getattr(module, short, None) is not obj:
            continue
        source = Path(getattr(module, "__file__", "") or "")
        if not source.is_file() or not re.search(rf"^{short}\s*[:=]", source.read_text(), flags=re.M):
            continue  # imported here, defined elsewhere
        try:
            comment = ModuleAnalyzer.for_module(module_name).find_attr_docs().get(("", short))
        except Exception:  # a module without source: no comment to read
            comment = None
        if comment:
            lines.extend([*comment, ""])
        lines.append(f"Defined in :mod:`{module_name}`.")
        return


def setup(app):
    app.connect("missing-reference", _resolve_within_drl)
    app.connect("autodoc-process-docstring", _constant_docstring)
    app.connect("autodoc-skip-member", _skip_foreign_members)


# written as the configuration is read: autosummary looks for its tables before any event of this file runs
_write_api_pages()

"""Lazy public names for drl's packages (PEP 562): a package lists where each name lives, and the module is
imported on first use, so importing a package (``import drl``, ``drl --help``) imports nothing heavy."""

from __future__ import annotations

import importlib


def lazy_exports(package: str, exports: dict[str, str], submodules=()):
    """``__getattr__`` and ``__dir__`` for ``package``: ``exports`` maps a public name to the module defining it;
    ``submodules`` are reachable as attributes (``drl.plots``) before they are imported."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str):
        if name in exports:
            value = getattr(importlib.import_module(exports[name]), name)
            namespace[name] = value  # later look-ups skip this function
            return value
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted([*namespace, *exports, *submodules])

    return __getattr__, __dir__


def deprecated_names(package: str, aliases: dict[str, tuple[str, str]]):
    """``__getattr__`` for names a package no longer exports: ``aliases`` maps each to ``(module, name)`` where it
    lives now; using it works, with a DeprecationWarning saying where."""
    import warnings

    def __getattr__(name: str):
        if name in aliases:
            module, new = aliases[name]
            warnings.warn(f"{package}.{name} is {module}.{new}; use that (this name will be removed)",
                          DeprecationWarning, stacklevel=2)
            return getattr(importlib.import_module(module), new)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__

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

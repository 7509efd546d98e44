"""The papers' headline analyses, reproduced with drl: ``drl.reproduce.reproduce("dabney2020")`` or
``drl reproduce dabney2020``.

Each reproduction simulates what the paper's model needs, runs the paper's analyses (and the controls a referee
asks for) with drl, writes the key panels to ``figs/<name>/`` and checks every number it can against the exact
truth (closed forms of the simulated task) or the paper's claim, each with a criterion and pass/fail. Seeded:
the same call gives the same numbers. ``quick=True`` runs a reduced version (the tests run it).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

from drl._validate import boolean, choice, integer
from drl.reproduce import dabney2020, masset2025, sousa2025
from drl.reproduce.result import Check, Reproduction

__all__ = ["PAPERS", "Check", "Reproduction", "reproduce"]

#: The papers reproduced, by name.
PAPERS = {"dabney2020": dabney2020, "masset2025": masset2025, "sousa2025": sousa2025}


def reproduce(name: str, *, directory="figs", quick: bool = False, progress: bool = True,
              seed: int = 0) -> Reproduction:
    """Reproduce paper ``name`` (one of :data:`PAPERS`): figures into ``directory/<name>/`` (created), checks
    returned (print the result for the table). ``progress`` shows a bar over the stages; warnings raised on
    the way are kept in the result's ``notes``, not printed."""
    choice("name", name, PAPERS)
    quick, progress = boolean("quick", quick), boolean("progress", progress)
    seed = integer("seed", seed, minimum=0)
    paper = PAPERS[name]
    folder = Path(directory) / name
    folder.mkdir(parents=True, exist_ok=True)
    from tqdm.auto import tqdm

    start = time.perf_counter()
    results: dict = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        steps = paper.stages(quick, seed)
        bar = tqdm(steps, desc=f"reproduce {name}", unit="stage", disable=not progress)
        for description, step in bar:
            bar.set_postfix_str(description)
            step(results)
        checks = paper.checks(results)
        figures = paper.figures(results, folder)
    notes = sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught})
    return Reproduction(name=name, checks=tuple(checks), figures=tuple(figures), notes=tuple(notes),
                        seconds=time.perf_counter() - start)

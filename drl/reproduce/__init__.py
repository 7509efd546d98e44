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
from drl.reproduce import dabney2020, eshel2016, masset2025, sousa2025
from drl.reproduce.power import cue_cell_power, discount_power
from drl.reproduce.result import Check, Reproduction

__all__ = ["PAPERS", "Check", "Reproduction", "cue_cell_power", "discount_power", "reproduce"]

#: The papers reproduced, by name.
PAPERS = {"dabney2020": dabney2020, "eshel2016": eshel2016, "masset2025": masset2025, "sousa2025": sousa2025}


def reproduce(name: str, *, directory="figs", quick: bool = False, progress: bool = True,
              seed: int = 0, data=None) -> Reproduction:
    """Reproduce paper ``name`` (one of ``PAPERS``): figures into ``directory/<name>/`` (created), checks
    returned (print the result for the table). ``progress`` shows a bar over the stages; warnings raised on
    the way are kept in the result's ``notes``, not printed. ``data``: the folder of recorded data a
    reproduction on real neurons reads (``eshel2016``: the lab's session files)."""
    choice("name", name, PAPERS)
    quick, progress = boolean("quick", quick), boolean("progress", progress)
    seed = integer("seed", seed, minimum=0)
    paper = PAPERS[name]
    needs_data = getattr(paper, "NEEDS_DATA", False)
    if needs_data:
        if data is None:
            raise ValueError(f"reproduce({name!r}) analyses recorded neurons: pass data= (drl reproduce {name} --data "
                             "DIR), the folder of the lab's session files")
        data = Path(data)
        if not data.is_dir():
            raise FileNotFoundError(f"data={str(data)!r} is not a folder (the lab's session files go there)")
    elif data is not None:
        raise ValueError(f"reproduce({name!r}) simulates its data: data= is for the reproductions on recordings "
                         f"({sorted(k for k, v in PAPERS.items() if getattr(v, 'NEEDS_DATA', False))})")
    folder = Path(directory) / name
    folder.mkdir(parents=True, exist_ok=True)
    from tqdm.auto import tqdm

    start = time.perf_counter()
    results: dict = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        steps = paper.stages(quick, seed, data) if needs_data else paper.stages(quick, seed)
        bar = tqdm(steps, desc=f"reproduce {name}", unit="stage", disable=not progress)
        for description, step in bar:
            bar.set_postfix_str(description)
            step(results)
        checks = paper.checks(results)
        figures = paper.figures(results, folder)
    notes = sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught})
    return Reproduction(name=name, checks=tuple(checks), figures=tuple(figures), notes=tuple(notes),
                        seconds=time.perf_counter() - start)

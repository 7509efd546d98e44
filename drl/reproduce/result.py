"""What a reproduction returns: its checks (each number beside the truth or the paper's claim) and figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["Check", "Reproduction", "write_figures"]


@dataclass(frozen=True)
class Check:
    """One checkable number: ``value`` (drl's) against ``reference`` (the exact truth, or what the paper
    reports) by ``criterion`` (in words), ``passed`` or not; ``source`` says where the reference comes from and
    ``rejects`` the alternative the row fails on (a break of the input a test feeds it), or says that it is an
    identity of the engine that no data can fail (a check of the code, not evidence). ``count`` says how much data
    the row's number comes from (trials and neurons: the full reproduction's, or a paper's own count);
    ``required`` False marks a row that is reported, not required (a claim that does not hold reliably at that
    count: the row says how often it does)."""

    quantity: str
    value: float
    reference: str
    criterion: str
    passed: bool
    source: str
    rejects: str = ""
    count: str = ""
    required: bool = True


@dataclass(frozen=True)
class Reproduction:
    """The result of :func:`drl.reproduce.reproduce`: ``checks``, the ``figures`` written, ``notes`` (warnings
    raised on the way, and what the reproduction left out) and ``seconds`` taken."""

    name: str
    checks: tuple[Check, ...]
    figures: tuple[Path, ...]
    notes: tuple[str, ...] = field(default=())
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Every required check passes (reported rows are shown, not required)."""
        return all(check.passed for check in self.checks if check.required)

    @property
    def table(self) -> pd.DataFrame:
        """The checks as a table (one row each)."""
        return pd.DataFrame([{"quantity": c.quantity, "drl": c.value, "reference": c.reference,
                              "criterion": c.criterion, "pass": c.passed, "source": c.source, "rejects": c.rejects,
                              "count": c.count, "required": c.required}
                             for c in self.checks])

    def __str__(self) -> str:
        width = max(len(c.quantity) for c in self.checks)
        required = [c for c in self.checks if c.required]
        reported = len(self.checks) - len(required)
        lines = [f"{self.name}: {sum(c.passed for c in required)} of {len(required)} checks pass"
                 + (f", {reported} reported" if reported else "") + f" ({self.seconds:.0f} s)", ""]
        for c in self.checks:
            mark = ("PASS" if c.passed else "FAIL") if c.required else ("pass" if c.passed else "fail")
            lines.append(f"{mark}  {c.quantity:<{width}}  drl {c.value:.4g}  "
                         f"{c.criterion}  ({c.reference}; {c.source})")
            lines.append(f"{'':6}{'':<{width}}  rejects: {c.rejects or 'not stated'}"
                         + (f"; data: {c.count}" if c.count else "") + ("" if c.required else "; reported, not required"))
        lines += ["", "figures: " + ", ".join(str(path) for path in self.figures)]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def write_figures(folder: Path, drawers: dict) -> list[Path]:
    """Draw each ``{name: draw(path) -> Figure}`` into ``folder/<name>.png`` (its warnings are the analyses'
    already kept in the notes), close it, and return the paths."""
    import warnings

    import matplotlib.pyplot as plt

    written = []
    for name, draw in drawers.items():
        path = Path(folder) / f"{name}.png"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fig = draw(path)
        plt.close(fig)
        written.append(path)
    return written

"""The engine's loop compiled with numba: :mod:`~drl.engine.compiled.own` (bootstrap "own" and "random"),
:mod:`~drl.engine.compiled.imputed` (the imputed bootstrap, with :mod:`~drl.engine.compiled.imputation`'s
per-predictor solver) and the steps both share, :mod:`~drl.engine.compiled.steps` (so neither loop imports the
other). The engine chooses the loop."""

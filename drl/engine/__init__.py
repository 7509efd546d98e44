"""The engine: a population of TD(λ) predictors learning a task, trial block by trial block.

* :mod:`~drl.engine.simulation` (:func:`simulate`) and :mod:`~drl.engine.continuation` (:func:`resume`,
  :func:`rerun`): the public entries, which validate, choose the loop and write the run;
* :mod:`~drl.engine.blocks`: the loop over trial blocks;
* :mod:`~drl.engine.kernel` (one block on torch), :mod:`~drl.engine.compiled` (the same in numba: the own and
  imputed bootstraps, their shared steps), :mod:`~drl.engine.td` (the TD(λ) maths), :mod:`~drl.engine.bootstrap`
  (what the next state's value is), :mod:`~drl.engine.features` (the state representation),
  :mod:`~drl.engine.options` (the engine's options);
* :mod:`~drl.engine.sinks`: where a block's values and errors go (memory, or streamed to disk);
* :mod:`~drl.engine.phases`: a population carried from one task to the next.
"""

from drl._lazy import lazy_exports

_EXPORTS = {
    "simulate": "drl.engine.simulation", "resume": "drl.engine.continuation", "rerun": "drl.engine.continuation",
    "Phase": "drl.engine.phases", "simulate_phases": "drl.engine.phases", "adapted_gamma": "drl.engine.phases",
    "mean_delay": "drl.engine.phases", "EngineOptions": "drl.engine.options", "PRESETS": "drl.engine.options",
    "CSC": "drl.engine.features", "Microstimulus": "drl.engine.features", "make_features": "drl.engine.features",
    "register_features": "drl.engine.features", "NonFiniteValueError": "drl.engine.kernel",
    "RunTooLargeError": "drl.engine.sinks",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)

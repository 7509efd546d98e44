"""Is a run's learned window what the decoders assume? :mod:`~drl.diagnostics.convergence` (are the values still
moving?) and :mod:`~drl.diagnostics.cue_code` (is the cue response the expectile of the return it predicts?).
Their reports are ``drl.convergence(run)`` and ``drl.cue_code(run)``; the decoders and figures warn with
:class:`~drl.diagnostics.convergence.ConvergenceWarning` and :class:`~drl.diagnostics.cue_code.CueCodeWarning`."""

"""Decoding a population: what its responses say about the reward distribution and the reward timing.

Three codes, as in the papers, each readable from a stored run or from arrays a user measured:

* optimism τ → reward distribution (Dabney et al. 2020). A predictor's reward response reverses sign at the
  τ-expectile of the reward (its **reversal point**); the reversal points of a τ-diverse population are the
  distribution's expectiles, and :func:`decode_distribution` imputes samples that have them.
* discount γ → reward timing (Masset et al. 2025). The cue response is ``Σ_t γ^t p(t) r̄`` (textbook TD:
  ``δ_cue = r_cue + γ^dt·V_cue``), a discrete Laplace transform of the delay distribution; :func:`decode_timing`
  inverts it (non-negative ridge).
* τ × γ → the joint time × magnitude map (Sousa et al. 2025): :func:`decode_joint`.

Uncertainty and calibration: :func:`reward_response_intervals` and :func:`distribution_intervals` give bootstrap
confidence intervals; :func:`calibrated_tau` and :func:`reversal_from_cue` are Sousa et al.'s bias-corrected,
isotonic τ map and their cue-to-reversal Huber regression, combined by :func:`decode_cue_distribution`.
Controls: optimistic / pessimistic cells on the 50 % cue (:mod:`~drl.decode.cue_cells`), and session by session
whether the neurons recorded together differ in their cue code (:mod:`~drl.decode.sessions`: the replication unit a
shared learning history leaves); split-half consistency of reversal points against a population that shares one
value prediction (:mod:`~drl.decode.controls`); what a decoded distribution's W1 means, against references and
shuffled codes (:mod:`~drl.decode.scoring`); and the W1 that a perfect expectile code reaches at the neurons' own
noise and trial counts, what a decode can be held to (:mod:`~drl.decode.perfect_code`). Discounting (:mod:`~drl.decode.discounting`): exponential against hyperbolic
discount fits per neuron and the timing decoders under each, cross-validated over trials (Masset et al. 2025).

Layering, one direction: sources (:mod:`drl.responses`: a run, a table, spikes) → the responses form → per-neuron
estimates (:mod:`~drl.decode.reward`, :mod:`~drl.decode.cue`) → population decodes (:mod:`~drl.decode.decoders`,
:mod:`~drl.decode.joint`, on the array decoders :mod:`~drl.decode.distribution` and :mod:`~drl.decode.timing`) →
uncertainty (:mod:`~drl.decode.intervals`, :mod:`~drl.decode.bands`, :mod:`~drl.decode.calibration`). Every function takes a run (read into the form on
the trials after learning, ``learned_fraction``: the last half by default), a path or a form, and none branches on
where the data came from. Estimates return xarray Datasets with the neurons' coordinates (a run's τ, γ, α±, λ) on
one dimension named for what the units are: ``predictor`` for a model's own predictors (a run, as its own
dimension), ``neuron`` for recorded neurons (real, or simulated as a recording); distribution decodes return a
:class:`DecodedDistribution`.
"""

from drl._lazy import deprecated_names
from drl.decode.bands import distribution_intervals as distribution_intervals
from drl.decode.calibration import calibrated_tau as calibrated_tau
from drl.decode.calibration import reversal_from_cue as reversal_from_cue
from drl.decode.controls import cross_validated_asymmetry as cross_validated_asymmetry
from drl.decode.controls import predict_signs as predict_signs
from drl.decode.controls import split_half_reversals as split_half_reversals
from drl.decode.cue import cue_responses as cue_responses
from drl.decode.cue import cue_values as cue_values
from drl.decode.cue_cells import classify_cue_cells as classify_cue_cells
from drl.decode.decoders import decode_reward_distribution as decode_reward_distribution
from drl.decode.decoders import decode_reward_timing as decode_reward_timing
from drl.decode.discounting import compare_discount_models as compare_discount_models
from drl.decode.discounting import compare_timing_decoders as compare_timing_decoders
from drl.decode.discounting import fit_hyperbolic as fit_hyperbolic
from drl.decode.distribution import DecodedDistribution as DecodedDistribution
from drl.decode.distribution import decode_distribution as decode_distribution
from drl.decode.distribution import expectiles as expectiles
from drl.decode.intervals import reward_response_intervals as reward_response_intervals
from drl.decode.joint import decode_cue_distribution as decode_cue_distribution
from drl.decode.joint import decode_joint as decode_joint
from drl.decode.perfect_code import perfect_code_control as perfect_code_control
from drl.decode.reward import hinge_fit as hinge_fit
from drl.decode.reward import reward_responses as reward_responses
from drl.decode.reward import sign_count_reversal as sign_count_reversal
from drl.decode.scoring import implied_tau as implied_tau
from drl.decode.scoring import reference_ladder as reference_ladder
from drl.decode.scoring import shuffle_control as shuffle_control
from drl.decode.scoring import wasserstein as wasserstein
from drl.decode.sessions import cue_diversity_by_session as cue_diversity_by_session
from drl.decode.timing import decode_timing as decode_timing
from drl.decode.timing import default_delay_grid as default_delay_grid
from drl.decode.timing import fit_discount as fit_discount
from drl.decode.timing import gcv_ridge as gcv_ridge
from drl.runs.reading import learned_trials as learned_trials

__all__ = [
    "DecodedDistribution",
    "calibrated_tau",
    "classify_cue_cells",
    "compare_discount_models",
    "compare_timing_decoders",
    "cross_validated_asymmetry",
    "cue_diversity_by_session",
    "cue_responses",
    "cue_values",
    "decode_cue_distribution",
    "decode_distribution",
    "decode_joint",
    "decode_reward_distribution",
    "decode_reward_timing",
    "decode_timing",
    "default_delay_grid",
    "distribution_intervals",
    "expectiles",
    "learned_trials",
    "fit_discount",
    "fit_hyperbolic",
    "gcv_ridge",
    "hinge_fit",
    "implied_tau",
    "perfect_code_control",
    "predict_signs",
    "reference_ladder",
    "reversal_from_cue",
    "reward_response_intervals",
    "reward_responses",
    "shuffle_control",
    "sign_count_reversal",
    "split_half_reversals",
    "wasserstein",
]

# the responses form's own functions, once exported here too: one export per object (drl.responses)
# the decoders of a population's responses, once named decode_run_*: they decode recordings too
__getattr__ = deprecated_names(__name__, {"decode_run_distribution": ("drl.decode", "decode_reward_distribution"),
                                          "decode_run_timing": ("drl.decode", "decode_reward_timing"),
                                          "is_responses_form": ("drl.responses", "is_responses_form"),
                                          "responses_form": ("drl.responses", "responses_form"),
                                          "responses_from_table": ("drl.responses", "responses_from_table")})

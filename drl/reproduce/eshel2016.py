"""Dabney et al. 2020's analysis on real neurons: the 40 optogenetically identified VTA dopamine neurons of Eshel
et al. 2016 (variable-magnitude task), read from the Uchida lab's own session files.

``drl reproduce eshel2016 --data DIR``: DIR holds the lab's CommonFormat files (one per neuron; the release of
Dabney et al.'s analysis code has them as ``Light-ID dopamine/*.mat``). Nothing is simulated. The checks compare
drl's numbers with the paper's:

* drl's defaults on the cued trials, with the paper's windows (responses 0.2–0.6 s after the reward minus the
  neuron's mean rate in the second before each trial's first event; reversal points and τ̂ from a two-piece
  line with non-negative slopes on the empirical utility axis): every τ̂ in [0, 1], τ̂ and reversal point
  correlated, the paper's cross-validated correlation, the decoded distribution against the delivered one;
* the paper's procedure exactly (``smoothing="dabney2020"``, cued and uncued trials pooled, the
  ``"dabney2020"`` estimator), against the arrays of the paper's own pipeline when DIR (or its parent) holds
  ``dabney_fit.mat``.

The trial counts are the paper's: every trial recorded (40 neurons in 30 sessions).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats

from drl.reproduce.result import Check, write_figures

PAPER = "Dabney et al. 2020"
NEEDS_DATA = True
#: the paper's windows (GEN_dabneys_fit.m): 200–600 ms after the reward, baseline the second before the trial's
#: event; drl's defaults subtract each neuron's mean baseline, the paper's procedure each trial's own
WINDOWS = {"response_window": (0.2, 0.6), "baseline_window": (-1.0, 0.0)}
#: W1 (in SD) of the distribution drl's decoder decodes from the paper's own 40 (reversal point, τ) pairs (Fig. 5's
#: DeepMind data, transcribed in matomatical/neuRL's NeuralData.ipynb)
PAPER_PAIRS_W1 = 0.45
CUED = "odor A"
#: Dabney et al.'s released arrays (dabney_fit.mat), looked for in the data folder and its parent
PAPER_ARRAYS = "dabney_fit.mat"
#: r(asymmetry, reversal point) of the paper's pipeline on these 40 neurons (its arrays)
PAPER_R = 0.851


def sizes(quick: bool) -> dict:
    """Splits of the cross-validated correlation (the paper's 200; 40 in the quick version)."""
    return {"splits": 40 if quick else 200, "shuffles": 10 if quick else 20, "perfect_codes": 20 if quick else 100}


def _paper_arrays(data: Path):
    for folder in (data, data.parent):
        path = folder / PAPER_ARRAYS
        if path.is_file():
            from scipy.io import loadmat

            arrays = loadmat(path, squeeze_me=True)
            return {k: np.asarray(arrays[k], dtype=np.float64) for k in ("zeroCrossings_all", "asymM_all",
                                                                           "perCell", "utilityAxis")}
    return None


def delivered(recordings, trial_type: str):
    """The reward distribution a trial type delivered: the magnitudes of its rewarded trials over the sessions
    (each session's trials once, whatever its number of neurons)."""
    from drl.tasks.distributions import RewardDistribution

    magnitudes = np.concatenate([r.trials["magnitude"].to_numpy()[r.trials["trial_type"].to_numpy() == trial_type]
                                 for r in recordings])
    values, counts = np.unique(magnitudes[np.isfinite(magnitudes)], return_counts=True)
    return RewardDistribution(values, counts / counts.sum())


def stages(quick: bool, seed: int, data: Path):
    """The reproduction as (description, step) pairs; each step takes and extends a dict of results."""
    from drl import decode
    from drl.responses import combine_sessions, read_commonformat, responses_from_recording

    size = sizes(quick)

    def read(r):
        r["recordings"] = read_commonformat(data)
        r["form"] = combine_sessions([responses_from_recording(rec, overlapping="keep", **WINDOWS)
                                      for rec in r["recordings"]])
        r["paper_form"] = combine_sessions([responses_from_recording(rec, overlapping="keep", smoothing="dabney2020",
                                                                     unrecorded="count",
                                                                     baseline="trial", **WINDOWS)
                                            for rec in r["recordings"]])
        r["truth"] = delivered(r["recordings"], CUED)
        r["paper"] = _paper_arrays(Path(data))

    def estimates(r):
        r["responses"] = decode.reward_responses(r["form"], CUED)
        r["paper_responses"] = decode.reward_responses(r["paper_form"], [CUED, "uncued"], reversal_fit="dabney2020")
        if r["paper"] is not None:  # the paper's own per-trial array through drl's estimator
            from drl.responses import responses_form

            per_cell = r["paper"]["perCell"]
            r["from_paper_array"] = decode.reward_responses(
                responses_form(np.nanmean(per_cell, 2), trial_response=per_cell, magnitude=r["truth"].values,
                               event=["reward"] * per_cell.shape[1], units="µl"), reversal_fit="dabney2020")

    def controls(r):
        r["cross_validated"] = decode.cross_validated_asymmetry(r["form"], CUED, n_splits=size["splits"], seed=seed)
        responses = r["responses"]
        keep = (responses["tau_hat"].values > 0) & (responses["tau_hat"].values < 1)
        if keep.sum() < 3:  # nothing to decode (responses that do not follow the reward): the checks fail
            r["decoded"] = r["regularised"] = r["perfect"] = None
            r["ladder"] = decode.reference_ladder(r["truth"])
            r["shuffled"] = np.array([np.nan])
            return
        r["decoded"] = decode.decode_reward_distribution(r["form"], CUED, responses=responses)
        r["regularised"] = decode.decode_reward_distribution(r["form"], CUED, responses=responses, smoothing="cv",
                                                          bounds="delivered")
        r["ladder"] = decode.reference_ladder(r["truth"], r["decoded"])
        r["perfect"] = decode.perfect_code_control(r["form"], r["truth"], CUED, responses=responses,
                                                   n_codes=size["perfect_codes"], seed=seed, progress=False)
        r["shuffled"] = decode.shuffle_control(responses["tau_hat"].values[keep],
                                               responses["reversal_point"].values[keep], r["truth"],
                                               n_shuffles=size["shuffles"], seed=seed) / r["truth"].std

    return [("read the lab's session files", read), ("per-neuron estimates", estimates),
            ("the cross-validated test and the decode", controls)]


def checks(r) -> list[Check]:
    from drl import decode

    out = []
    responses, truth = r["responses"], r["truth"]
    tau, reversal = responses["tau_hat"].values, responses["reversal_point"].values
    outside = int(np.sum(~((tau >= 0) & (tau <= 1))))
    out.append(Check(f"τ̂ outside [0, 1] (of {tau.size} neurons, defaults)", outside, "0 (the paper's procedure: 1)",
                     "0", outside == 0, "an asymmetry is a fraction: s+/(s+ + s−) with s± ≥ 0",
                     rejects="an estimator whose slopes may turn negative (drl's hinge in µl before: τ̂ = −10.3)"))
    rho = stats.spearmanr(tau, reversal, nan_policy="omit")[0]
    out.append(Check("Spearman ρ(τ̂, reversal point), all trials (defaults)", rho,
                     "0.856 (the paper's pipeline)", "≥ 0.75", rho >= 0.75,
                     f"{PAPER}, Fig. 4: optimistic neurons reverse at larger rewards",
                     rejects="the same neurons with each session's cued magnitudes shuffled over its trials (tested)"))
    cv = r["cross_validated"].attrs
    out.append(Check(f"cross-validated ρ (reversal from one half, τ̂ from the other; median of "
                     f"{r['cross_validated'].sizes['split']} splits)", cv["median_spearman"],
                     "Pearson 0.52 (the paper's procedure on these data)", "≥ 0.40", cv["median_spearman"] >= 0.40,
                     f"{PAPER}, Fig. 4: the correlation is not shared noise (each split a test over the 40 neurons; "
                     f"{100 * cv['fraction_significant']:.0f} % of splits p < 0.05)",
                     rejects="the same neurons with their magnitudes shuffled (tested); noise shared by the two estimates"))
    w1 = decode.wasserstein(r["decoded"], truth) / truth.std if r["decoded"] is not None else np.nan
    gaussian = r["ladder"]["Gaussian with the mean and SD"] / truth.std
    out.append(Check("decoded distribution: W1 to the delivered one (in SD; defaults)", w1,
                     f"{PAPER_PAIRS_W1} from the paper's own 40 pairs; a Gaussian with the true mean and SD: "
                     f"{gaussian:.2f}", f"≤ {PAPER_PAIRS_W1} (the paper's pairs)", w1 <= PAPER_PAIRS_W1,
                     f"{PAPER}, Fig. 5: the reward distribution decoded from the neurons",
                     rejects="estimates no better than the paper's own 40 pairs"))
    regularised = (decode.wasserstein(r["regularised"], truth) / truth.std if r["regularised"] is not None
                   else np.nan)
    out.append(Check("decoded with a cross-validated ridge within the delivered range: W1 (in SD)", regularised,
                     f"{PAPER_PAIRS_W1} from the paper's own 40 pairs", f"≤ {PAPER_PAIRS_W1}",
                     regularised <= PAPER_PAIRS_W1,
                     "smoothing='cv', bounds='delivered'" + (f" (ridge {r['regularised'].smoothing:.2g})"
                                                             if r["regularised"] is not None else ""),
                     rejects="estimates no better than the paper's own 40 pairs"))
    perfect = r["perfect"].attrs if r["perfect"] is not None else {"median_sd": np.nan, "low_sd": np.nan,
                                                                      "high_sd": np.nan, "n_codes": 0}
    out.append(Check("decoded W1 against perfect expectile codes at these neurons' noise (in SD)", w1,
                     f"perfect codes: median {perfect['median_sd']:.2f}, 10–90 % {perfect['low_sd']:.2f}–"
                     f"{perfect['high_sd']:.2f} ({perfect['n_codes']} codes)",
                     f"≤ {perfect['high_sd']:.2f} (their 90th percentile)", w1 <= perfect["high_sd"],
                     "perfect_code_control: each neuron replaced by one coding the exact τ̂-expectile with its own "
                     "slopes, trial counts and resampled noise; a fixed W1 target cannot tell noise from a code",
                     rejects="a code worse than a perfect one at this noise (the τ̂-shuffled code decodes to "
                             "about 0.76 SD)"))
    shuffled = float(np.nanmedian(r["shuffled"])) if np.isfinite(r["shuffled"]).any() else np.nan
    out.append(Check("decoded W1 / the median shuffled-τ̂ decode's", w1 / shuffled, "< 1",
                     f"< 1 (shuffled {shuffled:.2f} SD)", w1 < shuffled,
                     f"{PAPER}: decoding needs each neuron's own τ̂ with its own reversal point",
                     rejects="a code whose τ̂ say nothing of the reversal points"))
    paper = r["paper_responses"]
    r_paper = stats.pearsonr(paper["tau_hat"].values, paper["reversal_point_axis"].values)[0]
    out.append(Check("the paper's procedure from the session files: r(asymmetry, reversal point)", r_paper,
                     f"{PAPER_R} (the paper's arrays)", "within 0.01", abs(r_paper - PAPER_R) <= 0.01,
                     "dabney_fit.mat of the paper's pipeline (GEN_dabneys_fit.m)",
                     rejects="a reading of the files or a port of the pipeline that differs from the paper's"))
    arrays = r["paper"]
    if arrays is not None:
        from_files = np.abs(paper["reversal_point_axis"].values - arrays["zeroCrossings_all"])
        same = int(np.sum(from_files <= 1e-3))
        out.append(Check("the paper's procedure from the session files: neurons whose reversal point equals the "
                         "paper's (±0.001)", same, "40", "≥ 36 (4 hold responses that are exactly 0, which the "
                         "paper's arithmetic left as ±1e-14: their signs move its sign count)", same >= 36,
                         "dabney_fit.mat zeroCrossings_all",
                     rejects="a reading of the files that differs from the paper's (windows, smoothing, trials)"))
        own = r["from_paper_array"]
        crossing = float(np.max(np.abs(own["reversal_point_axis"].values - arrays["zeroCrossings_all"])))
        asymmetry = float(np.nanmax(np.abs(own["tau_hat"].values - arrays["asymM_all"])))
        out.append(Check("the paper's procedure on the paper's perCell: max |Δ reversal point| (utility)", crossing,
                         "0 (its random tie-break: up to ~5e-4)", "≤ 0.001", crossing <= 1e-3,
                         "dabney_fit.mat zeroCrossings_all",
                     rejects="a port of EstimateZeroCrossings that differs from the paper's"))
        out.append(Check("the paper's procedure on the paper's perCell: max |Δ asymmetry|", asymmetry, "0",
                         "≤ 0.001", asymmetry <= 1e-3, "dabney_fit.mat asymM_all",
                     rejects="a port of the linear scale factors that differs from the paper's"))
    return out


def figures(r, folder: Path) -> list[Path]:
    from drl import plots

    def scatter(path):
        import matplotlib.pyplot as plt

        from drl.plots._common import save_figure

        fig, axes = plt.subplots(1, 2, figsize=(8.6, 3.6), layout="constrained")
        for ax, responses, title, x in ((axes[0], r["responses"], "drl defaults (cued trials)", "reversal_point"),
                                        (axes[1], r["paper_responses"], "the paper's procedure",
                                         "reversal_point_axis")):
            ax.scatter(responses["tau_hat"].values, responses[x].values, s=22, edgecolors="k", linewidths=0.5)
            rho = stats.spearmanr(responses["tau_hat"].values, responses[x].values, nan_policy="omit")[0]
            units = "µl" if x == "reversal_point" else "utility, spikes/s"
            ax.set(xlabel="asymmetry τ̂ = s+/(s+ + s−)", ylabel=f"reversal point ({units})",
                   title=f"{title}: Spearman ρ = {rho:.2f}")
        fig.suptitle(f"{r['form'].sizes['neuron']} VTA dopamine neurons (Eshel et al. 2016)")
        save_figure(fig, path)
        return fig

    return write_figures(folder, {
        "reward_response": lambda p: plots.reward_response(r["form"], CUED, save=p),
        "asymmetry_vs_reversal": scatter,
        "distribution": lambda p: plots.distribution(r["decoded"], r["truth"], save=p, units="µl"),
    })

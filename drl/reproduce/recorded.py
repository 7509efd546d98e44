"""The recordings Masset's and Sousa's reproductions read: Poisson spikes of a γ-diverse population, once at the
reproduction's full size and once at a recording's count (the paper's, or an assumed one), each seeded apart."""

from __future__ import annotations

__all__ = ["gamma_diverse_recordings"]


def gamma_diverse_recordings(task: str, size: dict, seed: int, learning_trials: int, *, record_trials=None,
                             approximate: bool = False) -> dict:
    """``{"form", "count", "paper_form", "paper_count"}``: the responses forms of two recordings of neurons with
    γ uniform in (0.5, 0.99) and τ = 0.5 (``size["neurons"]`` over ``size["recorded_trials"]`` trials, and
    ``size["paper_neurons"]`` over ``size["paper_trials_per_cue"]`` per cue), and what each holds, in words
    (``approximate``: "about" so many per cue, where cues are drawn at random frequencies)."""
    import drl
    from drl.responses import recording_from_run, responses_from_recording

    n_cues = len(drl.get_task(task).trial_types)
    out = {}
    for prefix, (n_neurons, n_trials, stream) in {
            "": (size["neurons"], size["recorded_trials"], seed),
            "paper_": (size["paper_neurons"], n_cues * size["paper_trials_per_cue"], seed + 10)}.items():
        population = drl.Population.sample(n_neurons, gamma=(0.5, 0.99), tau=0.5, seed=stream)
        run = drl.simulate(task, population, learning_trials, progress=False, seed=stream, record_trials=record_trials)
        out[f"{prefix}form"] = responses_from_recording(recording_from_run(run, n_trials=n_trials, seed=stream))
        out[f"{prefix}count"] = (f"{n_trials} trials ({'about ' if approximate else ''}{n_trials // n_cues} per cue), "
                                 f"{n_neurons} neurons")
    return out

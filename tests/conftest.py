import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path, monkeypatch):
    """Each test runs in its own folder, so exps/ and figs/ are fresh and nothing leaks into the repo."""
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture(scope="session")
def paper_runs():
    """Small runs of three papers' tasks (Dabney τ × γ, Masset γ, Sousa τ × γ), shared by the figure tests."""
    import warnings

    import drl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", drl.ConvergenceWarning)
        dabney = drl.simulate("dabney_variable_magnitude",
                              drl.Population.grid(tau=[0.2, 0.5, 0.8], gamma=[0.7, 0.95], alpha=0.05), 300,
                              progress=False)
        masset = drl.simulate("masset_multi_delay", drl.Population.grid(gamma=[0.6, 0.8, 0.9, 0.97], alpha=0.1,
                                                                         lam=0.9), 300, progress=False)
        sousa = drl.simulate("sousa_2025", drl.Population.grid(tau=[0.2, 0.5, 0.8], gamma=[0.6, 0.8, 0.9, 0.97],
                                                               alpha=0.1, lam=0.9), 300, progress=False)
    return dabney, masset, sousa


def interrupt_a_streamed_run(out):
    """Stream a small run to ``out`` and interrupt it (Ctrl-C) right after its second checkpoint: 20 of 30 trials
    done, the run resumable. Used by the resume tests and the checkpoint-corruption property."""
    import drl
    from drl.recording import StreamWriter

    original, calls = StreamWriter.checkpoint, []

    def checkpoint_then_interrupt(self, *args):
        original(self, *args)
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    StreamWriter.checkpoint = checkpoint_then_interrupt
    try:
        with pytest.raises(KeyboardInterrupt):
            drl.simulate("hyp_unif", drl.Population.sample(3, seed=1), 30, progress=False, out=out,
                         bootstrap="random", rule="quantile", record_trials=3, block_trials=10)
    finally:
        StreamWriter.checkpoint = original

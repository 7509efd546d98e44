import matplotlib
import pytest

matplotlib.use("Agg")


def pytest_collection_modifyitems(config, items):
    """Slow modules first: the worker processes take modules in this order (--dist=loadscope with
    --no-loadscope-reorder; xdist's own order, most tests first, sent the SLURM module out last, and its ~2 min
    ended the suite alone): modules marked slow as a whole, then modules with slow tests, then the rest."""
    def rank(item):
        if getattr(getattr(item, "module", None), "pytestmark", None) is not None:
            return 0
        return 1 if item.get_closest_marker("slow") is not None else 2

    items.sort(key=rank)  # stable: the order within each rank is kept


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path, monkeypatch):
    """Each test runs in its own folder, so exps/ and figs/ are fresh and nothing leaks into the repo."""
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of two worker processes for a module's sweeps (closed after the module)."""
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    with Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="session")
def paper_runs():
    """Small runs of three papers' tasks (Dabney τ × γ, Masset γ, Sousa τ × γ), shared by the figure tests."""
    from reference_runs import reference_run

    return reference_run("dabney_small"), reference_run("masset_small"), reference_run("sousa_small")


def interrupt_a_streamed_run(out):
    """Stream a small run to ``out`` and interrupt it (Ctrl-C) right after its second checkpoint: 20 of 30 trials
    done, the run resumable. Used by the resume tests and the checkpoint-corruption property."""
    import drl
    from drl.engine.sinks import StreamWriter

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


_RUN_NOTEBOOK = (
    "import sys, nbformat\n"
    "from nbclient import NotebookClient\n"
    "nb = nbformat.read(sys.argv[1], as_version=4)\n"
    "NotebookClient(nb, timeout=int(sys.argv[3]), kernel_name='python3',\n"
    "               resources={'metadata': {'path': sys.argv[4]}}).execute()\n"
    "nbformat.write(nb, sys.argv[2])\n"
)


def execute_notebook(nb, *, timeout: int, cwd=None, attempts: int = 2):
    """``nb`` executed by nbclient in a fresh Python process, its kernel started as a user's is (no MPLBACKEND, no
    magic), in ``cwd``; returns the executed notebook.

    ``timeout`` is per cell. Every cell of sim.ipynb takes under 20 s, even beside two busy processes; but about
    one run in five, under load, the cell that displays the ipywidgets explorer never gets its reply: nbclient
    waits in its event loop while the kernel sits idle (caught with py-spy, with ipykernel 7 and with 6, with and
    without nbclient storing widget state; an upstream race, jupyter/nbclient#312). That wait lasted 4 to 10
    minutes. Such a run is given up after ``timeout`` and run again once in a fresh process and kernel, so the
    test checks the notebook instead of the race; a second stall fails it."""
    import os
    import subprocess
    import sys
    import tempfile

    import nbformat

    for attempt in range(attempts):
        with tempfile.TemporaryDirectory() as folder:
            source, executed = os.path.join(folder, "in.ipynb"), os.path.join(folder, "out.ipynb")
            nbformat.write(nb, source)
            env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
            where = str(cwd or os.getcwd())
            done = subprocess.run([sys.executable, "-c", _RUN_NOTEBOOK, source, executed, str(timeout), where],
                                  env=env, cwd=where, capture_output=True, text=True)
            if done.returncode == 0:
                return nbformat.read(executed, as_version=4)
            stalled = "CellTimeoutError" in done.stderr or "Cell execution timed out" in done.stderr
            if not stalled or attempt == attempts - 1:
                pytest.fail(f"the notebook failed:\n{done.stderr[-6000:]}")
            print(f"a cell waited over {timeout} s for its reply (the nbclient race): running the notebook again",
                  file=sys.stderr)

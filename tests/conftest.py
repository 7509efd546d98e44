import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path, monkeypatch):
    """Each test runs in its own folder, so exps/ and figs/ are fresh and nothing leaks into the repo."""
    monkeypatch.chdir(tmp_path)
    yield

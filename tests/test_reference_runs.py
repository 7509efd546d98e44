"""The disk-cached factory of reference runs (tests/reference_runs.py): what a test reads from the cache is the run
its recipe simulates now, and a cache made by another recipe or another engine is never read."""

import dataclasses

import xarray as xr
from reference_runs import RECIPES, cache_path, reference_run, simulate


def test_a_cached_run_is_the_run_its_recipe_simulates_now():
    cached = reference_run("dabney_thinned")
    assert cache_path("dabney_thinned").is_file()
    now = simulate("dabney_thinned")
    assert cached.attrs.pop("created") <= now.attrs.pop("created")  # the one attribute a later run changes
    xr.testing.assert_identical(cached, now)
    assert reference_run("dabney_thinned") is not cached  # each caller gets its own copy to change


def test_the_cache_key_follows_the_recipe_and_the_engine(monkeypatch):
    import reference_runs

    before = cache_path("dabney_thinned")
    changed = dataclasses.replace(RECIPES["dabney_thinned"], seed=1)
    monkeypatch.setitem(RECIPES, "dabney_thinned", changed)
    assert cache_path("dabney_thinned") != before
    monkeypatch.setitem(RECIPES, "dabney_thinned", dataclasses.replace(changed, seed=0))
    assert cache_path("dabney_thinned") == before
    monkeypatch.setattr(reference_runs, "_source_hash", lambda: "an edited engine")
    assert cache_path("dabney_thinned") != before

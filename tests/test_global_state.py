"""No global state: every public function leaves the user's matplotlib rcParams and torch settings as they were,
and the package's modules import each other in one direction (no cycle)."""

import ast
import warnings
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import pytest
import torch

import drl
import drl.plots
import drl.spice
import drl.widgets
from drl import plots

PACKAGE = Path(drl.__file__).parent


@pytest.fixture(scope="module")
def runs(paper_runs):
    return paper_runs


def _rc_snapshot():
    return {key: repr(value) for key, value in mpl.rcParams.items()}


def test_figure_functions_leave_rcparams_alone(runs):
    dabney, masset, sousa = runs
    mpl.rcParams["image.cmap"] = "plasma"  # a user's own setting must survive
    before = _rc_snapshot()
    calls = {
        "summary": lambda: plots.summary(dabney),
        "val_at_t": lambda: plots.val_at_t(dabney, 1.0),
        "heatmap": lambda: plots.heatmap(dabney, [0, 1]),
        "reward_response": lambda: plots.reward_response(dabney),
        "population_response": lambda: plots.population_response(dabney),
        "value_vs_delay": lambda: plots.value_vs_delay(masset),
        "timing": lambda: plots.timing(masset),
        "joint_map": lambda: plots.joint_map(sousa),
        "distribution": lambda: plots.distribution(drl.decode.decode_reward_distribution(dabney)),
        "val_over_t": lambda: plots.val_over_t(dabney, trials=slice(0, 3))._repr_html_(),
        "explore": lambda: drl.widgets.explore(dabney)._refresh(lambda: None),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", drl.ConvergenceWarning)
        for name, call in calls.items():
            call()
            changed = {k for k, v in _rc_snapshot().items() if before[k] != v}
            assert not changed, f"{name} changed rcParams {sorted(changed)[:5]}"
    assert mpl.rcParams["image.cmap"] == "plasma"
    plt.close("all")


def test_figures_are_still_drawn_in_drl_style(runs):
    from drl.plots._common import _theme

    with mpl.rc_context({"axes.labelsize": 10.0, "xtick.direction": "in"}):
        ax = plots.summary(runs[0]).axes[0]
    assert ax.xaxis.label.get_fontsize() == pytest.approx(float(_theme()["axes.labelsize"]))  # paper context × 1.2
    assert ax.xaxis.label.get_fontsize() != 10.0
    assert ax.xaxis.get_major_ticks()[0]._tickdir == "out"  # seaborn "ticks" style, not the user's "in"
    plt.close("all")


def _flush_denormal_enabled():
    return bool((torch.tensor([1e-39], dtype=torch.float32) * 1.0).item() == 0.0)


@pytest.mark.parametrize("bootstrap", ["own", "random", "imputed"])
def test_simulate_leaves_torch_settings_alone(bootstrap):
    threads = torch.get_num_threads()
    for flush in (False, True):
        torch.set_flush_denormal(flush)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            drl.simulate("hyp_unif", drl.Population.sample(4, tau=(0.2, 0.8), seed=0), 20, progress=False,
                         bootstrap=bootstrap)
        assert _flush_denormal_enabled() == flush
        assert torch.get_num_threads() == threads
    torch.set_flush_denormal(False)
    assert torch.get_default_dtype() == torch.float32


def _drl_imports(nodes) -> set[str]:
    """drl modules (and names imported from them) that the import statements among ``nodes`` name."""
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("drl"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("drl"))
    return found


def _runtime_nodes(tree):
    """Every node of ``tree`` but those inside ``if TYPE_CHECKING:`` blocks (not imports at run time)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _module_imports(path: Path) -> set[str]:
    """drl modules that ``path`` imports at run time, inside functions included (a function-level import is a
    cycle deferred, not avoided: compiled ↔ compiled_imputed was one); ``if TYPE_CHECKING:`` blocks are not."""
    return _drl_imports(_runtime_nodes(ast.parse(path.read_text())))


def test_no_import_cycle_inside_drl():
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph = {name: {m for m in _module_imports(path) if m in modules and m != name} for name, path in modules.items()}
    # a package's __init__ re-exporting its own submodules is not a cycle through them
    for name in graph:
        graph[name] = {m for m in graph[name] if not (modules[name].name == "__init__.py" and m.startswith(name + "."))}
    state, stack = {}, []

    def visit(node):
        state[node] = "active"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "active":
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail(f"import cycle: {' -> '.join(cycle)}")
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert {"drl.engine.simulation", "drl.engine.kernel", "drl.engine.sinks", "drl.tasks.registry", "drl.tasks.schedule"} <= set(graph)
    assert "drl.runs.store" not in {m for m in graph["drl.runs.schema"]} and "drl.engine.simulation" not in graph["drl.runs.store"]
    assert "drl.engine.compiled.steps" in graph["drl.engine.compiled.imputed"] and "drl.engine.compiled.own" not in graph["drl.engine.compiled.imputed"]


def test_no_module_imports_another_modules_private_names():
    """A name starting with _ is its module's own: another module importing it (recording.py took four of
    store.py's, compiled_imputed six of compiled's) couples the two where neither says so."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("drl"):
                found += [f"{path.relative_to(PACKAGE.parent)}: {node.module}.{a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")
                          and not (PACKAGE.parent / (node.module.replace(".", "/") + f"/{a.name}.py")).exists()
                          and not (PACKAGE.parent / (node.module.replace(".", "/") + f"/{a.name}")).is_dir()]
    assert not found, found


def _every_drl_import(path: Path) -> set[str]:
    """drl modules that ``path`` imports anywhere, inside functions included."""
    return _drl_imports(ast.walk(ast.parse(path.read_text())))


@pytest.mark.parametrize("package", ["decode", "responses"])
def test_the_analyses_and_their_sources_import_one_way_even_inside_functions(package):
    """sources (drl.responses) → form → estimates → decodes → uncertainty: no cycle even through a deferred
    import, no analysis module importing a source other than the form and the run reader, one job per module
    (at most ~400 lines)."""
    folder = PACKAGE / package
    modules = {f"drl.{package}.{p.stem}": p for p in folder.glob("*.py") if p.stem != "__init__"}
    graph = {name: {m for m in _every_drl_import(path) if m in modules and m != name} for name, path in modules.items()}
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(node, trail):
        state[node] = "active"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "active":
                pytest.fail(f"import cycle: {' -> '.join(trail + [node, nxt])}")
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = "done"
        order.append(node)

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    for name, path in modules.items():
        assert len(path.read_text().splitlines()) <= 420, f"{name} has grown a second job"
    if package == "decode":
        sources = {m for path in modules.values() for m in _every_drl_import(path) if m.startswith("drl.responses.")}
        assert {s.rsplit(".", 1)[0] if s.count(".") > 2 else s for s in sources} <= {"drl.responses.form",
                                                                                      "drl.responses.run"}


def test_the_folder_listing_shows_the_architecture():
    """The core in packages by job (tasks → engine → runs → diagnostics, beside responses, decode, plots,
    reproduce, sweep, spice); at most 10 public modules at the top level; no module over 400 lines."""
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("_"))
    assert len(top) <= 10 and top == ["cli", "population", "widgets"], top
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert packages == ["decode", "diagnostics", "engine", "plots", "reproduce", "responses", "runs", "spice",
                        "sweep", "tasks"], packages
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_a_moved_module_still_imports_under_its_old_name_with_a_deprecation_warning():
    import importlib
    import subprocess
    import sys

    from drl._moved import MOVED

    for new in MOVED.values():
        assert importlib.util.find_spec(new) is not None, new
    # in a fresh process: the old name is the new module object itself, with a DeprecationWarning naming both,
    # and the public functions drl.convergence / drl.cue_code stay functions when their old modules are imported
    code = """
import warnings
warnings.simplefilter("error", DeprecationWarning)
import drl
try:
    import drl.store
except DeprecationWarning as e:
    assert "drl.store moved to drl.runs.store" in str(e), e
else:
    raise SystemExit("no DeprecationWarning")
warnings.simplefilter("ignore", DeprecationWarning)
import drl.store, drl.runs.store, drl.convergence, drl.cue_code
from drl.schema import validate_dataset
assert drl.store is drl.runs.store and validate_dataset is drl.validate_dataset
assert callable(drl.convergence) and not isinstance(drl.convergence, type(drl))
assert callable(drl.cue_code) and not isinstance(drl.cue_code, type(drl))
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_every_public_name_is_exported_once_from_its_package():
    """drl's face: each public name resolves to its one object, and the packages' lazy names to the same one."""
    import drl
    from drl import diagnostics, engine, runs, tasks

    for name in drl.__all__:
        assert getattr(drl, name) is not None
    for package in (tasks, engine, runs):
        for name in package.__all__:
            assert getattr(package, name) is getattr(drl, name, getattr(package, name)), (package.__name__, name)
    assert not getattr(diagnostics, "__all__", [])  # drl.convergence and drl.cue_code are the public reports


def test_ides_see_the_lazy_facade():
    """``import drl`` imports its names on first use; a ``TYPE_CHECKING`` block imports each from the module the
    lazy table names, so IDEs and type checkers see them (and a name added to one and not the other fails)."""
    import drl

    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    seen = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                seen.update({alias.name: statement.module for alias in statement.names})
    assert seen == drl._EXPORTS
    assert sorted(drl.__all__) == sorted([*drl._EXPORTS, "decode"])


def test_one_export_per_object():
    """Each public object has one public name across drl's packages; a name that was a second export still works
    for old code, with a DeprecationWarning naming the one to use."""
    import importlib

    import drl.responses

    where = {}
    for package in ("drl", "drl.decode", "drl.responses", "drl.plots", "drl.spice", "drl.sweep", "drl.reproduce",
                    "drl.tasks", "drl.engine", "drl.runs"):
        module = importlib.import_module(package)
        for name in module.__all__:
            where.setdefault(id(getattr(module, name)), set()).add(f"{package}.{name}")
    twice = [sorted(names) for names in where.values() if len({n.rsplit(".", 1)[1] for n in names}) > 1
             or len({n.rsplit(".", 1)[0] for n in names} - {"drl"}) > 1]
    assert not twice, twice
    with pytest.warns(DeprecationWarning, match="drl.decode.responses_form is drl.responses.responses_form"):
        assert drl.decode.responses_form is drl.responses.responses_form
    with pytest.warns(DeprecationWarning, match="RESCOLA_WAGNER_CONFIG is drl.spice.precoded.RESCORLA_WAGNER_CONFIG"):
        assert drl.spice.RESCOLA_WAGNER_CONFIG is drl.spice.RESCORLA_WAGNER_CONFIG


def test_renamed_decoders_still_work_under_their_old_names():
    """The decoders are named for what they decode (they read recordings as well as runs); old code keeps working."""
    import drl.decode

    for old, new in (("decode_run_distribution", "decode_reward_distribution"),
                     ("decode_run_timing", "decode_reward_timing")):
        with pytest.warns(DeprecationWarning, match=f"drl.decode.{old} is drl.decode.{new}"):
            assert getattr(drl.decode, old) is getattr(drl.decode, new)
        assert old not in drl.decode.__all__ and old not in dir(drl.decode)

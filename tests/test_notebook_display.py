"""What a notebook user sees: each figure once, and an animation player that builds quickly and works."""

import base64
import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

import drl
from drl import plots


def run_as_a_user(cells, monkeypatch, timeout=60):
    """Execute ``cells`` in a Jupyter kernel started the way a user's is: no MPLBACKEND in its environment (the
    test suite's Agg would hide the inline backend) and no ``%matplotlib`` magic first. Returns the notebook."""
    import nbformat
    from conftest import execute_notebook

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    return execute_notebook(nb, timeout=timeout)


def images(cell) -> int:
    return sum("image/png" in out.get("data", {}) for out in cell.outputs)


@pytest.mark.slow
def test_every_figure_of_a_session_shows_once(monkeypatch):
    cells = [
        "import drl\nfrom drl import plots\n"
        "run = drl.simulate('hyp_unif', drl.Population.grid(tau=[0.2, 0.8]), 30, seed=0, progress=False)",
        "plots.val_at_t(run, time=0.5)",  # a figure ending the cell: pyplot and the cell result must not both show it
        "plots.heatmap(run, predictors=[0]);",  # the second figure of the session (it vanished: interactive was off)
        "fig = plots.val_at_t(run, time=0.5)",  # assigned: still shown, by pyplot at the end of the cell
        "fig",  # shown again on request
        "plots.val_at_t(run, time=0.5);",
        "from IPython.display import display\nsummary = plots.summary(run)\ndisplay(summary)",
        "import matplotlib.pyplot as plt\nplt.plot([0, 1])\nplots.val_at_t(run, time=0.5)",  # the user's own figure too
        "plt.hist([1, 2, 2, 3]);",  # after drl's figures, the user's own pyplot still shows
        "import matplotlib\nprint(matplotlib.is_interactive(), matplotlib.get_backend())",
    ]
    nb = run_as_a_user(cells, monkeypatch)
    assert [images(cell) for cell in nb.cells] == [0, 1, 1, 1, 1, 1, 1, 2, 1, 0]
    assert nb.cells[-1].outputs[0]["text"].split() == ["True", "module://matplotlib_inline.backend_inline"]


@pytest.fixture
def animation():
    pop = drl.Population.grid(tau=[0.2, 0.5, 0.8], gamma=[0.7, 0.95], alpha=0.1)
    run = drl.simulate("lowet_2025", pop, 40, progress=False)
    return plots.val_over_t(run, trial_type="variable", facet_by="gamma", trials=slice(0, 12), every=3)


def _frames(html):
    return json.loads(re.search(r"const frames = (\[.*?\]);", html).group(1))


def test_the_player_holds_every_frame_as_a_png_of_the_figure(animation):
    from PIL import Image

    html = animation._repr_html_()
    frames = _frames(html)
    assert len(frames) == len(animation.trials) >= 4
    assert json.loads(re.search(r"const trials = (\[.*?\]);", html).group(1)) == [int(t) for t in animation.trials]
    width, height = animation._fig.get_size_inches() * 72
    images = [Image.open(io.BytesIO(base64.b64decode(f))) for f in frames]
    assert all(abs(im.size[0] - width) <= 1 and abs(im.size[1] - height) <= 1 for im in images)
    arrays = [np.asarray(im.convert("RGB")) for im in images]
    assert all(not np.array_equal(arrays[0], a) for a in arrays[1:])  # the frames differ (the trial changes)
    assert animation._repr_html_() is html  # built once
    assert animation.to_player_html(dpi=36) != html
    # the figure is left as it was: its dpi and layout engine
    assert animation._fig.get_dpi() == 100 and animation._fig.get_layout_engine() is not None


def test_two_players_on_one_page_have_their_own_ids(animation):
    first = re.search(r'id="(drl-player-[0-9a-f]+)"', animation.to_player_html()).group(1)
    second = re.search(r'id="(drl-player-[0-9a-f]+)"', animation.to_player_html(dpi=50)).group(1)
    assert first != second


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the player's script")
def test_the_player_script_steps_slides_and_plays(animation):
    html = animation.to_player_html()
    script = re.search(r"<script>(.*)</script>", html, re.S).group(1)
    uid = re.search(r'id="(drl-player-[0-9a-f]+)"', html).group(1)
    # A minimal DOM: the elements the script touches, and a clock it can set.
    harness = """
const handlers = new Map();
function element(extra) {
  const el = Object.assign({dataset: {}, innerHTML: "", textContent: "", value: "0", src: ""}, extra);
  el.addEventListener = (kind, f) => handlers.set(el, f);
  return el;
}
const img = element(), slider = element(), label = element(), play = element();
const back = element({dataset: {step: "-1"}}), next = element({dataset: {step: "1"}});
const root = {
  querySelector: (s) => ({"img": img, "input": slider, "[data-label]": label, "[data-play]": play})[s],
  querySelectorAll: (s) => [back, next],
};
const document = {getElementById: (id) => (id === "UID" ? root : null)};
let tick = null, delay = null;
function setInterval(f, ms) { tick = f; delay = ms; return 1; }
function clearInterval() { tick = null; }
SCRIPT
const log = [];
const state = () => log.push([label.textContent, slider.value, img.src.length]);
handlers.get(next)(); state();
handlers.get(back)(); handlers.get(back)(); state();
slider.value = "2"; handlers.get(slider)(); state();
handlers.get(play)(); const playing = play.innerHTML; tick(); tick(); state();
handlers.get(play)(); state();
console.log(JSON.stringify({log, playing, stopped: play.innerHTML, delay, ticking: tick !== null}));
""".replace("UID", uid).replace("SCRIPT", script)
    out = subprocess.run(["node", "-e", harness], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    trials = [f"trial {int(t)}" for t in animation.trials]
    frames = [len("data:image/png;base64,") + len(f) for f in _frames(html)]
    last, played = len(trials) - 1, 4 % len(trials)
    expected = [[trials[1], 1, frames[1]], [trials[last], last, frames[last]],  # 1 -> 0 -> wraps to the last
                [trials[2], 2, frames[2]], [trials[played], played, frames[played]],
                [trials[played], played, frames[played]]]
    assert result["log"] == expected
    assert result["playing"] != result["stopped"] and not result["ticking"]
    assert result["delay"] == 100  # 10 frames per second


def test_a_saved_html_animation_is_the_player(animation, tmp_path):
    from drl.plots.animation import save_animation

    path = save_animation(animation, "anim.html", fps=10)
    text = path.read_text()
    assert 'class="drl-player"' in text and len(_frames(text)) == len(animation.trials)

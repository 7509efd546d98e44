"""Run before each gallery example (sphinx_gallery_conf["reset_modules"] in docs/conf.py)."""


def reset_matplotlib(gallery_conf, fname):
    """Each example starts from matplotlib's defaults, its animations written by Pillow (no ffmpeg on the build
    machine: matplotlib's fallback message would be the build's only output)."""
    import matplotlib

    matplotlib.rcdefaults()
    matplotlib.rcParams["animation.writer"] = "pillow"

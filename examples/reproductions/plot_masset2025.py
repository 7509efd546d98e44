"""
masset2025
==========

``drl reproduce masset2025 --quick``: the reproduction's figures and its table of checks, each number against the
paper's claim or the task's exact truth, and its null.
"""

import tempfile

import matplotlib.image as mpimg
import matplotlib.pyplot as plt

from drl.reproduce import reproduce

result = reproduce("masset2025", quick=True, progress=False, directory=tempfile.mkdtemp())
print(result)

# %%
# The figures it wrote, as it drew them.

for path in result.figures:
    image = mpimg.imread(path)
    height, width = image.shape[:2]
    fig, ax = plt.subplots(figsize=(10, 10 * height / width), layout="constrained")
    ax.imshow(image)
    ax.set_axis_off()

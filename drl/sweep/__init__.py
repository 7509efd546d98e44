"""Parameter sweeps on Dask: every combination of a grid of configuration fields is one run, one Dask task and
one ``.nc`` file under ``exps/<out>/``; ``open_sweep`` combines them lazily along a ``run`` dimension.

A local cluster is started when no client is given; any Dask client works (e.g. dask-jobqueue's SLURMCluster,
see docs/guide/sweeps.md). Runs whose file exists with the same configuration are skipped, so an interrupted sweep is
resumed by calling ``sweep`` again. A failing run is reported with its configuration and error; it stops
nothing.

Layout: :mod:`drl.sweep.configs` (run configurations, checks, seeds), :mod:`drl.sweep.run` (Dask execution),
:mod:`drl.sweep.results` (reading a sweep back).
"""

from drl.sweep.cluster import NoWorkersError as NoWorkersError
from drl.sweep.configs import CONFIG_FIELDS as CONFIG_FIELDS
from drl.sweep.configs import POPULATION_FIELDS as POPULATION_FIELDS
from drl.sweep.configs import check_config as check_config
from drl.sweep.configs import derive_seed as derive_seed
from drl.sweep.configs import run_config as run_config
from drl.sweep.results import map_runs as map_runs
from drl.sweep.results import open_sweep as open_sweep
from drl.sweep.results import sweep_coordinate as sweep_coordinate
from drl.sweep.results import sweep_run as sweep_run
from drl.sweep.run import sweep as sweep

__all__ = ["CONFIG_FIELDS", "POPULATION_FIELDS", "NoWorkersError", "check_config", "derive_seed", "map_runs", "open_sweep", "run_config", "sweep",
           "sweep_coordinate", "sweep_run"]

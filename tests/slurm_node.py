"""A one-node SLURM cluster for the tests: Debian's ``slurm-wlm`` and ``munge``, installed when absent, their
daemons started as root with a configuration of their own (its own ports, state and spool folders under a
temporary folder), and stopped afterwards with every job they ran.

Only where it cannot (not root, no apt-get, the packages not installable, a daemon that will not start) does
``start`` return the reason instead, for the test to skip with.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")
#: The partition, named as the docs' recipe's ``queue=``
PARTITION = "normal"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _memory_mb() -> int:
    """The node's memory as slurmd counts it (a job's --mem above the configured RealMemory is refused)."""
    with open("/proc/meminfo") as meminfo:
        return int(meminfo.readline().split()[1]) // 1024


def _installed() -> bool:
    return all(shutil.which(name) for name in ("slurmctld", "slurmd", "munged", "sbatch"))


def install() -> str | None:
    """Install the two packages when absent; the reason when they cannot be."""
    if _installed():
        return None
    if os.geteuid() != 0:
        return "SLURM is not installed and installing it needs root"
    if shutil.which("apt-get") is None:
        return "SLURM is not installed and there is no apt-get to install it with"
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]):
        result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)
        if result.returncode != 0:
            return f"`{' '.join(command)}` failed: {result.stderr.strip()[-300:]}"
    return None if _installed() else "apt-get installed slurm-wlm but slurmctld/slurmd/sbatch are not on PATH"


def _munge_running() -> bool:
    return subprocess.run(["munge", "-n"], capture_output=True, timeout=10).returncode == 0


def _start_munge() -> str | None:
    """Start munged unless one runs; the reason when it cannot."""
    if _munge_running():
        return None
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        subprocess.run(["mungekey", "--create"], capture_output=True, timeout=30)  # the package usually made one
        shutil.chown(key, "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", "munged"], capture_output=True, timeout=30)
    for _ in range(50):
        if _munge_running():
            return None
        time.sleep(0.1)
    return "munged did not start"


CONFIG = """\
ClusterName=drltest
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
SlurmctldPort={controller_port}
SlurmdPort={node_port}
KillWait=2
InactiveLimit=0
MinJobAge=5
NodeName=localhost CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName={partition} Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


class Node:
    """A running one-node cluster: ``config`` is its slurm.conf (SLURM_CONF for sbatch, squeue, scancel)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.config = folder / "slurm.conf"

    @property
    def environment(self) -> dict:
        return {**os.environ, "SLURM_CONF": str(self.config)}

    def command(self, *args: str) -> str:
        result = subprocess.run(list(args), capture_output=True, text=True, env=self.environment, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def job_ids(self) -> list[str]:
        return self.command("squeue", "--noheader", "--format=%i").split()

    def cancel_every_job(self) -> None:
        self.command("scancel", "--partition", PARTITION)

    def _processes(self) -> list[int]:
        """This cluster's daemons and job steps, found in /proc by their working folder (the node's) or their
        configuration (SLURM_CONF): a slurmd waiting on a job step removes its pid file before it exits, and a
        job step's environment is empty."""
        found = []
        for proc in Path("/proc").glob("[0-9]*"):
            with contextlib.suppress(OSError, ValueError):
                if (proc / "comm").read_text().strip() not in ("slurmctld", "slurmd", "slurmstepd", "slurmscriptd"):
                    continue
                if (Path(os.readlink(proc / "cwd")).is_relative_to(self.folder)
                        or str(self.config).encode() in (proc / "environ").read_bytes()):
                    found.append(int(proc.name))
        return found

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.cancel_every_job()
        with contextlib.suppress(Exception):
            self.command("scontrol", "shutdown")
        deadline = time.monotonic() + 5
        while self._processes() and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in self._processes():  # a daemon still waiting on a job step that never ends, and that step
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        # munged is left running: it is the machine's, shared by every cluster, and one test process stopping it
        # (pytest -n without --dist=loadscope puts this module's tests in several) broke the others' jobs


def start(folder: Path) -> Node | str:
    """A one-node cluster with its files under ``folder``, or the reason it cannot run here."""
    reason = install()
    if reason:
        return reason
    reason = _start_munge()
    if reason:
        return reason
    (folder / "state").mkdir(parents=True, exist_ok=True)
    (folder / "spool").mkdir(exist_ok=True)
    node = Node(folder)
    node.config.write_text(CONFIG.format(folder=folder, controller_port=_free_port(), node_port=_free_port(),
                                         cpus=os.cpu_count() or 1, memory_mb=_memory_mb(), partition=PARTITION))
    for daemon in (["slurmctld", "-i"], ["slurmd", "-N", "localhost"]):
        result = subprocess.run(daemon, capture_output=True, text=True, env=node.environment, timeout=60)
        if result.returncode != 0:
            node.stop()
            return f"{daemon[0]} did not start: {result.stderr.strip()[-300:]}"
    for _ in range(100):  # the node registers with the controller
        with contextlib.suppress(RuntimeError):
            if node.command("sinfo", "--noheader", "--format=%t").split() == ["idle"]:
                return node
        time.sleep(0.2)
    log = (folder / "slurmd.log").read_text()[-500:] if (folder / "slurmd.log").exists() else ""
    node.stop()
    return f"the SLURM node did not become idle: {log}"

"""Measure child processes without psutil: wall time, CPU and peak RSS of one command, and a
sampler of a process tree's RSS and CPU read from ``/proc`` (for per-task windows).

Peak RSS and CPU of a finished command come from ``os.wait4``: the kernel's resource usage of
that one child (its own, plus every descendant it waited for), so the figure is the child's and
not a running maximum over every child this process ever had (``RUSAGE_CHILDREN`` would be).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
SAMPLE_SECONDS = 0.1


class MeasureError(Exception):
    """A measured command could not run or ran past its time limit; the message says which
    and where its output is."""


@dataclass
class Measured:
    """What one command cost: wall seconds, CPU seconds (user + system, its waited descendants
    included), peak RSS in MB (``ru_maxrss``), exit code and its output (stdout + stderr)."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    returncode: int
    output: str
    started: float = 0.0
    ended: float = 0.0

    def as_dict(self) -> dict[str, float | int]:
        """The figures, JSON-ready (the output stays in the log file)."""
        return {
            "wall_s": round(self.wall_s, 2),
            "cpu_s": round(self.cpu_s, 2),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "returncode": self.returncode,
        }


def _ppid_map() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # Fields after the command name (which may hold spaces and brackets).
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def descendants(pid: int) -> list[int]:
    """``pid`` and every live process below it."""
    parents = _ppid_map()
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree.extend(frontier)
    return tree


def _proc_figures(pid: int) -> tuple[int, float] | None:
    """(RSS KiB, CPU seconds incl. waited children) of one process, None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rss = next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
    )
    ticks = stat.rsplit(")", 1)[1].split()
    # utime, stime, cutime, cstime: fields 14-17 of stat, 12-15 after the command name.
    cpu = sum(int(t) for t in ticks[11:15]) / _TICK
    return rss, cpu


def tree_figures(pid: int) -> tuple[int, float]:
    """(RSS KiB summed, CPU seconds summed) over ``pid``'s live process tree."""
    rss_total, cpu_total = 0, 0.0
    for member in descendants(pid):
        figures = _proc_figures(member)
        if figures is not None:
            rss_total += figures[0]
            cpu_total += figures[1]
    return rss_total, cpu_total


@dataclass
class TreeSampler:
    """Samples a process tree's RSS and CPU every ``SAMPLE_SECONDS`` in a thread until it
    ends or :meth:`stop` is called; :meth:`window` gives the figures of a time span."""

    pid: int
    #: (unix time, RSS KiB, CPU seconds)
    samples: list[tuple[float, int, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sampler-{self.pid}", daemon=True)

    def start(self) -> TreeSampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._done.is_set():
            if _proc_figures(self.pid) is None:
                return
            rss, cpu = tree_figures(self.pid)
            self.samples.append((time.time(), rss, cpu))
            self._done.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)

    def window(self, start: float, end: float) -> tuple[float, float]:
        """(peak RSS MB, CPU seconds) over ``[start, end]``: the samples just outside the span
        bound the CPU difference, so a short task is not read as zero."""
        before = [s for s in self.samples if s[0] <= start]
        inside = [s for s in self.samples if start < s[0] < end]
        after = [s for s in self.samples if s[0] >= end]
        first = before[-1] if before else (inside[0] if inside else None)
        last = after[0] if after else (inside[-1] if inside else None)
        if first is None or last is None:
            return 0.0, 0.0
        peak = max([s[1] for s in inside] + [first[1], last[1]])
        return peak / 1024, max(0.0, last[2] - first[2])


def run_measured(
    command: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 3600.0,
    sampler: list[TreeSampler] | None = None,
) -> Measured:
    """Run ``command`` to its end, output appended to ``log``; its wall, CPU and peak RSS.

    With ``sampler`` (an empty list), a :class:`TreeSampler` of the command is appended to it
    and left with its samples. Past ``timeout`` seconds the command's process group is killed
    and :class:`MeasureError` raised."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        offset = out.tell()
        out.write(f"\n===== {' '.join(command)}\n".encode())
        out.flush()
        started, wall_start = time.time(), time.perf_counter()
        proc = subprocess.Popen(
            list(command),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        tree = TreeSampler(proc.pid).start() if sampler is not None else None
        timer = threading.Timer(timeout, _kill_group, (proc.pid,))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            if tree is not None:
                tree.stop()
                assert sampler is not None
                sampler.append(tree)
        wall = time.perf_counter() - wall_start
        proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_bytes()[offset:].decode("utf-8", errors="replace")
    if wall >= timeout:
        raise MeasureError(f"{command[0]} ran past {timeout:.0f} s and was stopped; see {log}")
    return Measured(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,
        returncode=proc.returncode,
        output=text,
        started=started,
        ended=time.time(),
    )


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by ``pid``'s live process tree (0 when it is gone)."""
    return tree_figures(pid)[1]

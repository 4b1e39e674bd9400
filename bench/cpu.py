"""CPU time spent by the processes under measurement, read from /proc.

On a shared machine requests/s move with whatever else runs; the CPU a server spends per
delivery does not, and it says where the time goes: the server process with its children
(the service's projection worker), and the PostgreSQL server's processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSample:
    server_s: float
    postgres_s: float

    def minus(self, earlier: CpuSample) -> CpuSample:
        return CpuSample(self.server_s - earlier.server_s, self.postgres_s - earlier.postgres_s)


def sample(server_pid: int) -> CpuSample:
    return CpuSample(tree_cpu_seconds(server_pid), postgres_cpu_seconds())


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name in parentheses may hold spaces; fields count from the state after it.
    return [stat[stat.index("(") + 1 : stat.rindex(")")], *stat[stat.rindex(")") + 2 :].split()]


def _cpu_seconds(fields: list[str]) -> float:
    # utime and stime are fields 14 and 15 of stat(5); here 12 and 13 after name and state.
    return (int(fields[12]) + int(fields[13])) / TICKS_PER_SECOND


def _all_stats() -> dict[int, list[str]]:
    stats = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
            stats[int(entry.name)] = fields
    return stats


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of `root` and every living descendant."""
    stats = _all_stats()
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[2]), []).append(pid)
    total, pending = 0.0, [root]
    while pending:
        pid = pending.pop()
        if pid in stats:
            total += _cpu_seconds(stats[pid])
        pending.extend(children.get(pid, []))
    return total


def postgres_cpu_seconds() -> float:
    """CPU seconds of every living PostgreSQL process on this machine (0 when none runs)."""
    return sum(_cpu_seconds(fields) for fields in _all_stats().values() if fields[0] == "postgres")


def postgres_cpu_seconds_with_ended() -> float:
    """CPU seconds of every PostgreSQL process on this machine, those that have ended included.

    A connection's process ends with the connection, taking its count with it; once the
    server has reaped it, its time is in the server's count of its ended children (`cutime`
    and `cstime`, fields 16 and 17 of stat(5)).
    """
    stats = _all_stats()
    total = 0.0
    for fields in stats.values():
        if fields[0] != "postgres":
            continue
        total += _cpu_seconds(fields)
        parent = stats.get(int(fields[2]))
        if parent is None or parent[0] != "postgres":
            total += (int(fields[14]) + int(fields[15])) / TICKS_PER_SECOND
    return total

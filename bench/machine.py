"""What the figures were measured on."""

from __future__ import annotations

import os
import platform
import sqlite3
from pathlib import Path

from bench.databases import postgres_version


def describe_machine(postgres_url: str) -> dict[str, object]:
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "cpu_model": _proc_field("/proc/cpuinfo", "model name"),
        "memory_gib": round(
            int(_proc_field("/proc/meminfo", "MemTotal", "0").split()[0]) / 2**20, 1
        ),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": postgres_version(postgres_url),
        "sqlite": sqlite3.sqlite_version,
    }


def _proc_field(path: str, name: str, missing: str = "unknown") -> str:
    for line in Path(path).read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return missing

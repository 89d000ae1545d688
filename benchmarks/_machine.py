"""What the machine was doing around a benchmark: numbers here are only comparable within one run."""

from __future__ import annotations

import os
import platform


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine(load_before: list[float]) -> dict[str, object]:
    """CPUs, Python, and the load average before and after the measured part."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
    }

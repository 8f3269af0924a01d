"""The machine line every benchmark prints above its table, so its numbers can be read against the hardware."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def describe_host(*details: str) -> str:
    """CPU model, CPU count, Python version, then ``details`` (library versions, threads), then the load average."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
                 platform.processor() or platform.machine())
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return ", ".join([model, f"{os.cpu_count()} CPUs", f"Python {platform.python_version()}", *details,
                      f"load average {load} (1, 5, 15 min)"])

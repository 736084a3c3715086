"""What the benchmarks print about the machine they ran on (imported by the scripts beside it)."""

from __future__ import annotations

import platform
import subprocess


def cpu_name() -> str:
    """The CPU model name from lscpu (``platform.processor()`` where lscpu is missing)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or platform.machine()
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def bf16_note() -> str:
    """Whether the CPU computes bfloat16 natively (what openfer's 'auto' precision and backend depend on)."""
    from openfer.inference import native_bf16

    return "native bf16 (AMX/AVX512-BF16)" if native_bf16() else "no native bf16"

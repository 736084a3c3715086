"""How long the ``openfer`` command takes before it does any work: ``--help``, the refusal of a path that can give
no frame (``/dev/zero``), ``import openfer``, and importing torch for comparison (the floor of any command that
loads a model). Each row: the median and the range of fresh-process wall times.

    python benchmarks/cli_startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import time

from machine import cpu_name

CASES = {
    "openfer --help": [sys.executable, "-m", "openfer", "--help"],
    "openfer predict /dev/zero (exit 2)": [sys.executable, "-m", "openfer", "predict", "/dev/zero"],
    "python -c 'import openfer'": [sys.executable, "-c", "import openfer"],
    "python -c 'import torch' (for comparison)": [sys.executable, "-c", "import torch"],
}


def wall_seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for command in CASES.values():  # warm the file cache once
        wall_seconds(command)
    print(f"# openfer start-up — {datetime.date.today()} — {cpu_name()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} — {args.repeats} fresh processes each")
    print("| command | median s | min s | max s |")
    print("|---|---:|---:|---:|")
    for name, command in CASES.items():
        times = [wall_seconds(command) for _ in range(args.repeats)]
        print(f"| {name} | {statistics.median(times):.2f} | {min(times):.2f} | {max(times):.2f} |")


if __name__ == "__main__":
    main()

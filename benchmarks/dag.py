"""How long Snakemake takes to plan paper mode, and to find nothing to do, as the number of models grows.

For config/paper.yaml (its 13 models) and for generated configs with 10, 50 and 200 models (the 13 cloned with a
suffix), in a fresh working directory each:

  build   wall time of `snakemake -n --configfile <config>` with no output present (goal: <= 10 s for paper.yaml)
  no-op   the same once every output exists (empty files whose times follow the DAG; goal: <= 3 s)

and the CPU time of each (user + system, of Snakemake and what it starts), which depends less on how busy the
machine is; each is the fastest of --repeats runs.

Prints a table of times and their ratios to the 10-model config, and the machine. Run from the repository root:
    python benchmarks/dag.py [--models 10 50 200] [--repeats 3]
ImageNet val's user path is pointed at an empty temporary folder (a dry run needs the input to exist).
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from host import describe_host  # benchmarks/host.py, beside this script

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "config" / "paper.yaml"


def with_models(config: dict, count: int | None) -> dict:
    """``config`` with ``count`` models: the paper's cloned cyclically as ``<name>_<copy>`` (pairs kept within a
    copy); None keeps the config's own."""
    if count is None:
        return config
    config = copy.deepcopy(config)
    base = list(config["models"].items())
    models = {}
    for index in range(count):
        name, spec = base[index % len(base)]
        suffix = f"_{index // len(base)}"
        spec = copy.deepcopy(spec)
        if spec.get("pair"):
            spec["pair"] = spec["pair"] + suffix
        models[name + suffix] = spec
    # a pair whose counterpart fell outside the count is dropped
    for spec in models.values():
        if spec.get("pair") not in models:
            spec.pop("pair", None)
    config["models"] = models
    return config


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def snakemake(workdir: Path, config: Path, *args: str) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, output) of one Snakemake run."""
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
               "--configfile", str(config), *args]
    start, cpu = time.perf_counter(), _children_cpu()
    run = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    elapsed, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return elapsed, cpu, run.stdout + run.stderr


def planned_jobs(dry_run: str) -> list[tuple[list[str], list[str]]]:
    """(inputs, outputs) of every job a dry run lists."""
    jobs = []
    for block in re.split(r"^(?:local)?rule \S+:$", dry_run, flags=re.M)[1:]:
        paths = {key: line.split(", ") for key, line in re.findall(r"^\s+(input|output): (.+)$", block, re.M)}
        jobs.append((paths.get("input", []), paths.get("output", [])))
    return jobs


def fake_outputs(workdir: Path, dry_run: str) -> None:
    """Empty files for every planned output and every input no job makes (names without a suffix are folders),
    each a second newer than the newest of its job's inputs, so Snakemake finds every output up to date."""
    jobs = planned_jobs(dry_run)
    producer = {output: index for index, (_, outputs) in enumerate(jobs) for output in outputs}
    depth: dict[int, int] = {}

    def depth_of(index: int) -> int:  # the DAG is shallow (< 10 levels), recursion is fine
        if index not in depth:
            depth[index] = 1 + max((depth_of(producer[i]) for i in jobs[index][0] if i in producer), default=0)
        return depth[index]

    now = time.time()
    for index, (inputs, outputs) in enumerate(jobs):
        sources = [(path, 0) for path in inputs if path not in producer and not Path(path).is_absolute()]
        for path, level in [*sources, *((path, depth_of(index)) for path in outputs)]:
            target = workdir / path
            if "." in target.name:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
            else:
                target.mkdir(parents=True, exist_ok=True)
            os.utime(target, (now - 100 + level, now - 100 + level))


def measure(config: dict, repeats: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="dag-bench-") as tmp:
        tmp = Path(tmp)
        (tmp / "imagenet_val").mkdir()
        os.utime(tmp / "imagenet_val", (time.time() - 1000,) * 2)  # older than the fake outputs made from it
        config = copy.deepcopy(config)
        config["datasets"]["imagenet_val"]["path"] = str(tmp / "imagenet_val")
        config_path = tmp / "config.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        builds, noops = [], []
        for repeat in range(repeats):  # a fresh folder each time: no .snakemake state from the last run
            workdir = tmp / f"work-{repeat}"
            *times, dry_run = snakemake(workdir, config_path, "-n")
            builds.append(times)
        jobs = int(re.search(r"^total\s+(\d+)", dry_run, re.M).group(1))
        fake_outputs(workdir, dry_run)
        for _ in range(repeats):
            *times, output = snakemake(workdir, config_path, "-n")
            if "Nothing to be done" not in output:
                raise SystemExit(f"the no-op run still plans jobs:\n{output[-3000:]}")
            noops.append(times)
        (build, build_cpu), (noop, noop_cpu) = min(builds), min(noops)
        return {"models": len(config["models"]), "jobs": jobs, "build": build, "build_cpu": build_cpu,
                "noop": noop, "noop_cpu": noop_cpu}


def snakemake_version() -> str:
    return subprocess.run([sys.executable, "-m", "snakemake", "--version"], capture_output=True,
                          text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, nargs="*", default=[10, 50, 200], help="generated model counts")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement; the fastest is kept")
    args = parser.parse_args()
    paper = yaml.safe_load(PAPER.read_text())
    rows = [("paper.yaml", measure(paper, args.repeats))]
    rows += [(f"{count} models", measure(with_models(paper, count), args.repeats)) for count in args.models]
    reference = next((row for name, row in rows if row["models"] == 10), rows[0][1])
    print("machine: " + describe_host(f"Snakemake {snakemake_version()}"))
    print(f"fastest of {args.repeats} runs; ratios to the {reference['models']}-model config\n")
    print("| config | models | jobs | build wall (s) | build CPU (s) | no-op wall (s) | no-op CPU (s) | build ratio | "
          "no-op ratio | build CPU ms/job |")
    print("|---" * 10 + "|")
    for name, row in rows:
        print(f"| {name} | {row['models']} | {row['jobs']} | {row['build']:.1f} | {row['build_cpu']:.1f} | "
              f"{row['noop']:.1f} | {row['noop_cpu']:.1f} | {row['build'] / reference['build']:.2f} | "
              f"{row['noop'] / reference['noop']:.2f} | {1000 * row['build_cpu'] / row['jobs']:.1f} |")


if __name__ == "__main__":
    main()

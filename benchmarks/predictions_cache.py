"""Forward passes and time of the logit metrics with the predictions cache vs a forward pass per metric.

cache       the workflow's design: one predict job runs the model once over every eval set any logit metric reads,
            one predict_corruptions job over the corrupted views; they write predictions/{model}/{image set}.npz,
            and each metric's evaluate job (no torch) reads the files it needs.
per-metric  the paper authors' design: one script per metric loads the model and runs it over every image set the
            metric needs, so a set that several metrics read (the mini config's test: calibration, ood and the
            corruptions' clean images) is predicted once per metric.

Each job or script runs in a fresh Python process, one at a time, through the calls the workflow's scripts make
(synclone.tasks.predict, predict_corruptions, evaluate_logit_metric; a per-metric script makes its metric's calls
in one process), for config/config.yaml's logit metrics with their parameters and batch sizes. Forward passes are
counted in each process by wrapping ClassifierWrapper.forward (calls and images). "passes" is the images forwarded
divided by the images of one pass over each image set the metrics read: 1.00 is one pass per (model, image set).
Wall time and CPU time (user + system of the processes: less sensitive to other jobs on the machine) include each
process's start (Python, imports: torch only where a model runs), loading the model, predicting, writing and
reading the files and evaluating (bootstrap included); not Snakemake's own per-job cost, nor rendering the data.
An untimed run of the cache design first warms the file cache; the designs then alternate, --repeats times, and
each keeps its fastest run. (The per-metric corruptions script predicts all of test for its clean images, as the
workflow's clean file does, where the authors' script predicts only the corrupted subset: 1,500 images more at the
config's sizes.)

The model is a randomly initialised mini-world model (--arch; timing does not depend on its accuracy); the eval
sets are rendered with synclone.worlds.mini into a temporary folder at the config's sizes times --scale (the hard
split as unfiltered hard candidates: filtering needs a trained reference model). Rows: the config's logit metrics,
and the same without corruptions (whose 50 corrupted views dominate the images). Run from the repository root:
    python benchmarks/predictions_cache.py [--arch mini_resnet] [--scale 1.0] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import yaml

from synclone import tasks  # no torch at import: an evaluate process must not pay for it here either
from synclone.imageset import open_imageset
from synclone.metrics import LOGIT_METRICS, PREDICTION_NAMES
from synclone.seeding import derive_seed

from host import describe_host  # benchmarks/host.py, beside this script

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "config.yaml"

Step = tuple[str, dict]  # a synclone.tasks function and its keyword arguments (JSON: they cross a process)


def render_eval_sets(config: dict, names: set[str], scale: float, folder: Path) -> dict[str, str]:
    """Each eval set in ``names`` rendered as the config says, ``scale`` times its size; a filtered set (hard) as
    its unfiltered candidates."""
    datasets, paths = config["datasets"], {}
    for name in sorted(names):
        spec = datasets[name]
        kind = spec["kind"] if spec["source"] == "render" else datasets[spec["candidates"]]["kind"]
        paths[name] = str(folder / name)
        tasks.render_dataset(paths[name], folder / f"{name}.png", kind, max(1, round(scale * spec["n"])),
                             config.get("mini_world", {}).get("params", {}), derive_seed(config["seed"], "data"),
                             grid_images=10)
    return paths


def save_random_model(arch: str, seed: int, path: Path) -> None:
    import torch

    from synclone.models.classifier import build_classifier, save_classifier

    torch.manual_seed(seed)
    save_classifier(path, build_classifier(arch), {"weights": "random"})


def metric_params(config: dict, metric: str) -> dict:
    """A metric's parameters as the workflow's evaluate rule passes them (identity label maps in the mini world)."""
    bootstrap = {**config["bootstrap"], "seed": derive_seed(config["seed"], "bootstrap", metric)}
    return {**config["metrics"][metric], "bootstrap": bootstrap}


def cache_steps(config: dict, metrics: list[str], model: str, data: dict[str, str], out: Path,
                threads: int) -> tuple[list[Step], list[Step]]:
    """(predict steps, evaluate steps) of one cache for ``metrics``: every image set they read predicted once into
    ``out``, then each metric evaluated from the files."""
    params = {metric: metric_params(config, metric) for metric in metrics}
    reads = {metric: PREDICTION_NAMES[metric](params[metric]) for metric in metrics}
    plain = sorted({name for names in reads.values() for name in names if "@" not in name})
    predict = [("predict", {"model_path": model, "data_dirs": [data[name] for name in plain],
                            "out_paths": [str(out / f"{name}.npz") for name in plain],
                            "batch_size": config["compute"]["predict_batch_size"], "threads": threads,
                            "device": "cpu"})]
    if "corruptions" in metrics:
        from synclone.acquire.sources import computed_corruptions  # imported here: a job process does not need it

        spec, seed = params["corruptions"], config["seed"]
        views = [f"{c}-{s}" for c in computed_corruptions(spec) for s in spec["severities"]]
        predict.append(("predict_corruptions", {
            "model_path": model, "data_dir": data[spec["eval_set"]],
            "out_paths": {view: str(out / f"{spec['eval_set']}@{view}.npz") for view in views},
            "n_images": spec.get("n_images"), "subset_seed": derive_seed(seed, "corruptions", "subset"),
            "corruption_seed": derive_seed(seed, "corruptions", "noise"), "batch_size": spec["batch_size"],
            "threads": threads, "device": "cpu"}))
    evaluate = [("evaluate_logit_metric", {
        "prediction_paths": {name: str(out / f"{name}.npz") for name in reads[metric]},
        "out_json": str(out / f"{metric}.json"), "model": "bench", "metric": metric, "params": params[metric]})
        for metric in metrics]
    return predict, evaluate


def processes(design: str, config: dict, metrics: list[str], model: str, data: dict[str, str], out: Path,
              threads: int) -> list[list[Step]]:
    """The steps of each process of a design: the cache's jobs (a predict job per kind, an evaluate job per
    metric), or a script per metric."""
    if design == "cache":
        predict, evaluate = cache_steps(config, metrics, model, data, out, threads)
        return [[step] for step in predict + evaluate]
    scripts = []
    for metric in metrics:
        predict, evaluate = cache_steps(config, [metric], model, data, out / metric, threads)
        scripts.append(predict + evaluate)
    return scripts


def runs_model(steps: list[Step]) -> bool:
    return any(name != "evaluate_logit_metric" for name, _ in steps)


def run_steps(steps: list[Step]) -> dict:
    """In this process: the steps, counting forward calls and images when one of them runs the model."""
    counts = {"calls": 0, "images": 0}
    if runs_model(steps):  # an evaluate process stays without torch
        from synclone.models.classifier import ClassifierWrapper

        original = ClassifierWrapper.forward

        def forward(model, images):  # the process ends after its steps: nothing to restore
            counts["calls"] += 1
            counts["images"] += len(images)
            return original(model, images)

        ClassifierWrapper.forward = forward
    for name, kwargs in steps:
        getattr(tasks, name)(**kwargs)
    return counts


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_design(plan: list[list[Step]]) -> dict:
    """Wall time, CPU time, forward calls and images of a design's processes, run one after another."""
    totals = {"wall": 0.0, "cpu": 0.0, "calls": 0, "images": 0}
    for steps in plan:
        start, cpu = time.perf_counter(), _children_cpu()
        run = subprocess.run([sys.executable, __file__, "--child"], input=json.dumps(steps), capture_output=True,
                             text=True, env={**os.environ, "TQDM_DISABLE": "1"})
        totals["wall"] += time.perf_counter() - start
        totals["cpu"] += _children_cpu() - cpu
        if run.returncode != 0:
            raise SystemExit(f"{[name for name, _ in steps]} failed:\n{run.stderr[-3000:]}")
        for key, value in json.loads(run.stdout.strip().splitlines()[-1]).items():
            totals[key] += value
    return totals


def one_pass_images(config: dict, metrics: list[str], data: dict[str, str]) -> int:
    """Images in one pass over every image set (eval set or corrupted view) ``metrics`` read."""
    names = {name for metric in metrics for name in PREDICTION_NAMES[metric](config["metrics"][metric])}
    sizes = {name: len(open_imageset(data[name])) for name in names if "@" not in name}
    if "corruptions" in metrics:
        spec = config["metrics"]["corruptions"]
        view_size = min(spec.get("n_images") or sizes[spec["eval_set"]], sizes[spec["eval_set"]])
        sizes.update({name: view_size for name in names if "@" in name})
    return sum(sizes.values())


def measure(config: dict, metrics: list[str], model: str, data: dict[str, str], work: Path, threads: int,
            repeats: int) -> dict:
    """Per design: its processes (and how many run a model), forward counts, fastest wall and CPU time."""
    row: dict = {"one_pass": one_pass_images(config, metrics, data)}
    for repeat in range(repeats):
        for design in ("cache", "per-metric"):  # alternated: a burst of load on a shared machine hits both
            plan = processes(design, config, metrics, model, data, work / f"{design}-{len(metrics)}-{repeat}",
                             threads)
            result = {**run_design(plan), "processes": len(plan), "with_model": sum(map(runs_model, plan))}
            if design in row:  # the counts are the same every run; the times vary
                result.update(wall=min(row[design]["wall"], result["wall"]), cpu=min(row[design]["cpu"], result["cpu"]))
            row[design] = result
    return row


def shared_sets(reads: dict[str, list[str]]) -> str:
    """The image sets that more than one metric reads, with those metrics (``reads``: metric -> its sets)."""
    readers: dict[str, list[str]] = {}
    for metric, names in reads.items():
        for name in names:
            readers.setdefault(name, []).append(metric)
    return "; ".join(f"{name} ({', '.join(names)})" for name, names in readers.items() if len(names) > 1) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="mini_resnet", help="mini-world architecture (synclone.models.registry)")
    parser.add_argument("--scale", type=float, default=1.0, help="eval set sizes: the config's times this")
    parser.add_argument("--repeats", type=int, default=3, help="runs per design; the fastest is kept")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (a job's threads)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # run the steps on stdin
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_steps(json.load(sys.stdin))))
        return
    config = yaml.safe_load(CONFIG.read_text())
    metrics = [metric for metric in config["metrics"] if metric in LOGIT_METRICS]
    metric_sets = {f"config ({len(metrics)} logit metrics)": metrics,
                   "config without corruptions": [metric for metric in metrics if metric != "corruptions"]}
    reads = {metric: PREDICTION_NAMES[metric](config["metrics"][metric]) for metric in metrics}
    with tempfile.TemporaryDirectory(prefix="cache-bench-") as tmp:
        tmp = Path(tmp)
        data = render_eval_sets(config, {n for names in reads.values() for n in names if "@" not in n}, args.scale,
                                tmp / "data")
        model = tmp / f"{args.arch}.pt"
        save_random_model(args.arch, config["seed"], model)
        run_design(processes("cache", config, metrics, str(model), data, tmp / "warm-up", args.threads))
        rows = {name: measure(config, chosen, str(model), data, tmp / "work", args.threads, args.repeats)
                for name, chosen in metric_sets.items()}
    print("machine: " + describe_host(f"torch {version('torch')} ({args.threads} threads)"))
    print(f"model: {args.arch}, random weights; eval sets at {args.scale:g} x the config's sizes; fastest of "
          f"{args.repeats} run(s) per design; image sets read by several metrics: {shared_sets(reads)}\n")
    print("| metric set | images in one pass | processes (with a model) | forward calls | passes | wall s | CPU s | "
          "wall ratio | CPU ratio |")
    print("|---" * 9 + "|")
    for name, row in rows.items():
        cache, per_metric = row["cache"], row["per-metric"]
        print(f"| {name} | {row['one_pass']} | {cache['processes']} ({cache['with_model']}) / "
              f"{per_metric['processes']} ({per_metric['with_model']}) | {cache['calls']} / {per_metric['calls']} | "
              f"{cache['images'] / row['one_pass']:.2f} / {per_metric['images'] / row['one_pass']:.2f} | "
              f"{cache['wall']:.1f} / {per_metric['wall']:.1f} | {cache['cpu']:.1f} / {per_metric['cpu']:.1f} | "
              f"{per_metric['wall'] / cache['wall']:.2f} | {per_metric['cpu'] / cache['cpu']:.2f} |")
    print("\ncolumns with two values: cache / per-metric; ratios: per-metric / cache")


if __name__ == "__main__":
    main()

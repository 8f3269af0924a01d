"""Peak memory (RSS) of paper mode's predict and attack jobs on a 224 px ViT-B, at config/paper.yaml's batch sizes.

Each row runs in a subprocess of its own, so one row's peak cannot hide another's. The subprocess builds the paper
registry's vit_b (timm's vit_base_patch16_224 in the [0, 1] wrapper, random weights: nothing is downloaded), notes
its RSS (the baseline), then runs one step of a job on random images and reports its peak RSS (VmHWM in
/proc/self/status):

  predict  synclone.streaming.predict_imageset (what the predict job runs per image set) over --batches batches of
           compute.predict_batch_size images held in memory
  fgsm     synclone.attacks.fgsm on one batch of metrics.adversarial.batch_size images
  pgd      synclone.attacks.pgd on the same batch, with --pgd-steps steps
  attack   synclone.attacks.attack_correctness on that batch (the attack job's loop: clean, FGSM and PGD images and
           their correctness), with --pgd-steps steps

A PGD step is a forward and backward pass (minutes for a batch of 128 on 2 CPU cores), and each step's graph is
freed before the next, so the peak barely grows after the first step (+0.1 GB from 1 to 4 steps at batch 16):
--pgd-steps (default 2) cuts the config's 20 and the output says so. The increment over the baseline is what a batch costs; the job's memory (compute.jobs'
mem_mb) must hold the peak. --batch-size overrides the config's batch sizes (to extrapolate with the increment per
image where they do not fit). Each subprocess's data size is capped (RLIMIT_DATA, --max-gib: by default the memory
available at the start less 1 GiB), so a row that does not fit fails alone instead of waking the kernel's OOM
killer on a shared machine. Run from the repository root:
    python benchmarks/memory.py [--rows predict fgsm pgd attack] [--pgd-steps 2] [--batches 1] [--batch-size N]
                                [--threads 2] [--max-gib G]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import yaml

from host import describe_host  # benchmarks/host.py, beside this script

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "config" / "paper.yaml"
ARCH = "vit_b"
ROWS = ("predict", "fgsm", "pgd", "attack")


def _kib(path: str, field: str) -> int:
    return int(re.search(rf"^{field}:\s+(\d+) kB", Path(path).read_text(), re.M).group(1))


def _status_mib(field: str) -> float:
    """A memory line of /proc/self/status (VmRSS: now, VmHWM: the peak so far), in MiB."""
    return _kib("/proc/self/status", field) / 1024


def measure_row(row: str, batch_size: int, batches: int, adversarial: dict, pgd_steps: int, threads: int) -> dict:
    """In this process: build the model, run one row; its RSS after the build and its peak, in MiB."""
    import numpy as np
    import pandas as pd
    import torch

    from synclone.attacks import attack_correctness, fgsm, pgd
    from synclone.imageset import ImageSet
    from synclone.models.classifier import build_classifier
    from synclone.streaming import predict_imageset

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_classifier(ARCH).eval()
    built = {"rss_built": _status_mib("VmRSS"), "peak_built": _status_mib("VmHWM")}
    _, height, width = model.preprocess.input_size
    count = batch_size * (batches if row == "predict" else 1)
    images = np.random.default_rng(0).integers(0, 256, (count, height, width, 3), dtype=np.uint8)
    labels = np.random.default_rng(1).integers(0, model.num_classes, count)
    eps, random_start = float(adversarial["eps"]), bool(adversarial["random_start"])
    step = eps * float(adversarial["pgd_step_ratio"])
    if row == "predict":
        source = ImageSet(images, pd.DataFrame({"file": [f"{i}.png" for i in range(count)], "label": labels}))
        predict_imageset(model, source, batch_size, "cpu")
    elif row == "attack":
        attack_correctness(model, images, labels, eps, step, pgd_steps, batch_size, "cpu", 0, random_start)
    else:
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
        y = torch.from_numpy(labels)
        if row == "fgsm":
            fgsm(model, x, y, eps)
        else:
            pgd(model, x, y, eps, step, pgd_steps, random_start)
    return {**built, "peak": _status_mib("VmHWM"), "images": count}


def run_row(row: str, args: argparse.Namespace) -> dict:
    """``measure_row`` in a fresh Python process."""
    command = [sys.executable, __file__, "--child", row, "--pgd-steps", str(args.pgd_steps), "--batches",
               str(args.batches), "--threads", str(args.threads), "--max-gib", str(args.max_gib)]
    if args.batch_size:
        command += ["--batch-size", str(args.batch_size)]
    run = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
    if run.returncode != 0:  # e.g. torch's "can't allocate memory" under the cap: the other rows still run
        return {"error": f"exit {run.returncode}: {run.stderr.strip().splitlines()[-1] if run.stderr.strip() else ''}"}
    return json.loads(run.stdout.strip().splitlines()[-1])


def machine(threads: int) -> str:
    import torch

    total = _kib("/proc/meminfo", "MemTotal") / 1024**2
    return describe_host(f"{total:.0f} GiB RAM", f"torch {torch.__version__} ({threads} threads)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS), help="what to measure")
    parser.add_argument("--pgd-steps", type=int, default=2, help="PGD steps (paper.yaml: pgd_steps)")
    parser.add_argument("--batches", type=int, default=1, help="predict batches")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    parser.add_argument("--batch-size", type=int, help="instead of the config's batch sizes")
    parser.add_argument("--max-gib", type=float, help="cap on each subprocess's data size (default: available - 1)")
    parser.add_argument("--child", choices=ROWS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    paper = yaml.safe_load(PAPER.read_text())
    adversarial = paper["metrics"]["adversarial"]
    batch_sizes = {"predict": paper["compute"]["predict_batch_size"], **dict.fromkeys(ROWS[1:],
                                                                                       adversarial["batch_size"])}
    if args.batch_size:
        batch_sizes = dict.fromkeys(ROWS, args.batch_size)
    if args.child:
        limit = int(args.max_gib * 1024**3)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
        print(json.dumps(measure_row(args.child, batch_sizes[args.child], args.batches, adversarial, args.pgd_steps,
                                     args.threads)))
        return
    if args.max_gib is None:
        args.max_gib = round(_kib("/proc/meminfo", "MemAvailable") / 1024**2 - 1, 1)
    results = {row: run_row(row, args) for row in args.rows}
    sizes = (f"--batch-size {args.batch_size}" if args.batch_size else
             f"config/paper.yaml's (compute.predict_batch_size {batch_sizes['predict']}, "
             f"metrics.adversarial.batch_size {adversarial['batch_size']})")
    print(f"machine: {machine(args.threads)}")
    print(f"model: paper registry {ARCH} (224 px), random weights; batch sizes {sizes}; PGD with {args.pgd_steps} "
          f"of the config's {adversarial['pgd_steps']} steps; one subprocess per row, data capped at "
          f"{args.max_gib:g} GiB\n")
    print("| row | batch size | images | RSS after build (MiB) | peak during build (MiB) | peak RSS (MiB) | "
          "increment (MiB) | increment per image (MiB) |")
    print("|---" * 8 + "|")
    for row, result in results.items():
        if "error" in result:
            print(f"| {row} | {batch_sizes[row]} | failed: {result['error']} |")
            continue
        increment = result["peak"] - result["rss_built"]
        print(f"| {row} | {batch_sizes[row]} | {result['images']} | {result['rss_built']:.0f} | "
              f"{result['peak_built']:.0f} | {result['peak']:.0f} | {increment:.0f} | "
              f"{increment / batch_sizes[row]:.1f} |")

if __name__ == "__main__":
    main()

"""Our FGSM and PGD (synclone.attacks) against torchattacks' on the same model and the same images, on the CPU.

The model is a mini_resnet: --checkpoint (a classifier checkpoint, e.g. a mini-world run's
checkpoints/resnet_real.pt) or, without one, trained here for --epochs on --train-images rendered mini-world images
(under a minute on one core). Both sides attack the same [0, 1] images with the same settings (the wrapper
normalises inside the model): for each --eps, FGSM, PGD from a random start, and PGD from the clean image
(deterministic, so the two should agree image for image), PGD with --steps steps of eps * --step-ratio
(config.yaml's adversarial metric: 20 steps of eps / 4). Per attack and eps it prints:

  accuracy    robust accuracy of each on --images test images, their difference and its binomial standard error
              sqrt(p1 (1 - p1) / n + p2 (1 - p2) / n); random starts differ, so PGD agrees only within noise
  agree       share of images that both leave correct or both fool
  diff        mean and largest |ours - theirs| over the adversarial images' pixels, in [0, 1] units (0: the same)
  s/batch     mean seconds per batch of --batch-size of each side (one pass over the images, sides interleaved
              batch by batch so that load from other jobs hits both alike); ratio = theirs / ours

torchattacks is installed with pip --no-deps into --peer-dir (its pinned requirements would replace this venv's
torch; what it imports, torch, scipy and numpy, is here already) and imported from there. Run from the repository
root:
    python benchmarks/attacks.py [--checkpoint PATH] [--eps 1 2 4 8] [--images 500] [--batch-size 250]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from synclone import attacks
from synclone.imageset import ImageSet
from synclone.models.classifier import build_classifier, load_classifier
from synclone.predict import to_unit_float
from synclone.training import train_classifier
from synclone.worlds import mini

from host import describe_host  # benchmarks/host.py, beside this script

REPO = Path(__file__).resolve().parents[1]
TORCHATTACKS = "torchattacks==3.5.1"


def import_torchattacks(target: Path):
    if not (target / "torchattacks").is_dir():
        print(f"installing {TORCHATTACKS} into {target} (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                        "--target", target, TORCHATTACKS], check=True)
    sys.path.insert(0, str(target))
    import torchattacks

    return torchattacks


def rendered(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    attributes = mini.sample_attributes(count, seed)
    images, _ = mini.render(attributes)
    return images, attributes["label"].to_numpy()


def quick_model(train_images: int, epochs: int, seed: int) -> tuple[torch.nn.Module, float]:
    """A mini_resnet trained with the library's defaults for ``epochs``; (model, seconds)."""
    images, labels = rendered(train_images, seed)
    metadata = pd.DataFrame({"file": [f"{i:06d}.png" for i in range(len(labels))], "label": labels})
    torch.manual_seed(seed)
    model = build_classifier("mini_resnet")
    start = time.perf_counter()
    train_classifier(model, ImageSet(images, metadata), {"epochs": epochs}, seed)
    return model, time.perf_counter() - start


def correct(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return (model(images).argmax(dim=1) == labels).numpy()


def compare(model, x, y, batch_size, ours, theirs) -> dict:
    """Both attacks over all images, batch by batch, alternating which goes first."""
    outputs, seconds = {"ours": [], "theirs": []}, {"ours": 0.0, "theirs": 0.0}
    for index, start in enumerate(range(0, len(y), batch_size)):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        sides = [("ours", ours), ("theirs", theirs)]
        for side, attack in sides if index % 2 == 0 else sides[::-1]:
            begin = time.perf_counter()
            outputs[side].append(attack(xb, yb))
            seconds[side] += time.perf_counter() - begin
    batches = math.ceil(len(y) / batch_size)
    ours_adv, theirs_adv = torch.cat(outputs["ours"]), torch.cat(outputs["theirs"])
    ours_ok, theirs_ok = correct(model, ours_adv, y), correct(model, theirs_adv, y)
    p1, p2, n = ours_ok.mean(), theirs_ok.mean(), len(y)
    return {
        "ours": p1, "theirs": p2, "se": math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / n),
        "agree": (ours_ok == theirs_ok).mean(), "mean_diff": (ours_adv - theirs_adv).abs().mean().item(),
        "max_diff": (ours_adv - theirs_adv).abs().max().item(),
        "ours_s": seconds["ours"] / batches, "theirs_s": seconds["theirs"] / batches,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, help="a mini_resnet classifier checkpoint; else train one")
    parser.add_argument("--train-images", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--images", type=int, default=500, help="test images attacked")
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--eps", type=float, nargs="+", default=[1, 2, 4, 8], help="in units of 1/255")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--step-ratio", type=float, default=0.25, help="PGD step size / eps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch threads (1 is steadier on a machine other jobs load)")
    parser.add_argument("--peer-dir", type=Path, default=REPO / "benchmarks" / ".peer-torchattacks")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torchattacks = import_torchattacks(args.peer_dir)
    if args.checkpoint:
        model, note = load_classifier(args.checkpoint), f"checkpoint {args.checkpoint}"
    else:
        model, seconds = quick_model(args.train_images, args.epochs, args.seed)
        note = f"mini_resnet trained here: {args.train_images} images, {args.epochs} epochs, {seconds:.0f} s"
    model.eval()
    images, labels = rendered(args.images, args.seed + 1)  # another seed than the training images
    x, y = to_unit_float(torch.from_numpy(images), "cpu"), torch.tensor(labels)  # pandas hands out read-only labels
    generator = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)  # torchattacks' random starts come from the global RNG
    rows = []
    for eps in (value / 255 for value in args.eps):
        step = eps * args.step_ratio
        pairs = {
            "FGSM": (lambda xb, yb: attacks.fgsm(model, xb, yb, eps), torchattacks.FGSM(model, eps=eps)),
            "PGD": (lambda xb, yb: attacks.pgd(model, xb, yb, eps, step, args.steps, True, generator),
                    torchattacks.PGD(model, eps=eps, alpha=step, steps=args.steps, random_start=True)),
            "PGD, no random start": (lambda xb, yb: attacks.pgd(model, xb, yb, eps, step, args.steps, False),
                                     torchattacks.PGD(model, eps=eps, alpha=step, steps=args.steps,
                                                      random_start=False)),
        }
        for name, (ours, theirs) in pairs.items():
            rows.append({"eps": eps, "attack": name, **compare(model, x, y, args.batch_size, ours, theirs)})
    clean = correct(model, x, y).mean()
    print("machine: " + describe_host(f"torch {torch.__version__} ({torch.get_num_threads()} threads)",
                                     f"torchattacks {torchattacks.__version__}"))
    print(f"model: {note}; clean accuracy {clean:.3f} on {len(y)} test images")
    print(f"PGD: {args.steps} steps of eps * {args.step_ratio}; batches of {args.batch_size}\n")
    print("| eps | attack | ours acc | theirs acc | diff | SE | agree | mean diff | max diff | ours s/batch | "
          "theirs s/batch | ratio |")
    print("|---" * 12 + "|")
    for row in rows:
        print(f"| {row['eps'] * 255:g}/255 | {row['attack']} | {row['ours']:.3f} | {row['theirs']:.3f} | "
              f"{row['ours'] - row['theirs']:+.3f} | {row['se']:.3f} | {row['agree']:.3f} | {row['mean_diff']:.2g} | "
              f"{row['max_diff']:.2g} | {row['ours_s']:.3f} | {row['theirs_s']:.3f} | "
              f"{row['theirs_s'] / row['ours_s']:.2f} |")


if __name__ == "__main__":
    main()

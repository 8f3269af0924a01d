"""Our batched torch corruptions (synclone.corruptions) against the imagecorruptions package (ImageNet-C's code,
one image at a time), on the same mini-world renders, at 32 px and 224 px, on the CPU.

For every corruption both implement (shot_noise, motion_blur, snow, pixelate, jpeg_compression) and each
--severities, from uint8 H x W x 3 images in to uint8 images out on both sides:

  ours / theirs    images/s: ours is one batched ``corrupt`` call on all torch threads (and again on one thread),
                   theirs ``imagecorruptions.corrupt`` on each image, its only API; fastest of --repeats rounds
                   (each round times every job on both sides, so that load from other jobs hits both alike).
                   ratio = ours / theirs (goal: >= 5)
  change           mean |corrupted - clean| of each side, in [0, 1] units: how strong the corruption is
  MAD              mean |ours - theirs| in [0, 1] units, for the deterministic corruptions (pixelate, JPEG) where
                   both use the same parameters: at 224 px (ImageNet-C's). At 32 px ours uses CIFAR-10-C's
                   calibration and imagecorruptions ImageNet-C's, so it compares different corruptions there.
  MAD vs PIL       the same against PIL run with our parameters at that size (imagecorruptions' operations: BOX
                   down and NEAREST up, a PIL JPEG round trip)

imagecorruptions needs numpy < 2 and an older SciPy, so it runs in a venv of its own that the script creates and
fills on first use (--peer-venv, with --python; pip must reach PyPI), in a subprocess that exchanges images as
.npy files; ours runs in this interpreter. Run from the repository root:
    python benchmarks/corruptions.py [--n32 256] [--n224 32] [--severities 3] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from synclone import corruptions
from synclone.worlds import mini

from host import describe_host  # benchmarks/host.py, beside this script

REPO = Path(__file__).resolve().parents[1]
SHARED = ("shot_noise", "motion_blur", "snow", "pixelate", "jpeg_compression")
DETERMINISTIC = ("pixelate", "jpeg_compression")
PEER_PACKAGES = ("numpy<2", "scipy<1.12", "scikit-image<0.25", "opencv-python-headless<4.12", "Pillow",
                 "setuptools<81")  # imagecorruptions imports pkg_resources

# Runs in the peer venv, once per round. argv: folder with images_<side>.npy and jobs.json; writes theirs_*.npy,
# pil_*.npy and times.json there.
PEER_WORKER = r"""
import io, json, sys, time
from pathlib import Path
import numpy as np
from PIL import Image
from imagecorruptions import corrupt

folder = Path(sys.argv[1])

def pil(image, name, value):
    # imagecorruptions' pixelate and JPEG with a given parameter
    picture = Image.fromarray(image)
    if name == "pixelate":
        height, width = image.shape[:2]
        small = picture.resize((int(width * value), int(height * value)), Image.BOX)
        return np.asarray(small.resize((width, height), Image.NEAREST))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=int(round(value)))
    return np.asarray(Image.open(buffer).convert("RGB"))

times = {}
for job in json.loads((folder / "jobs.json").read_text()):
    images = np.load(folder / f"images_{job['side']}.npy")
    key = f"{job['side']}_{job['name']}_{job['severity']}"
    np.random.seed(0)  # imagecorruptions draws from numpy's global RNG
    start = time.perf_counter()
    out = np.stack([corrupt(image, severity=job["severity"], corruption_name=job["name"]) for image in images])
    times[key] = time.perf_counter() - start
    np.save(folder / f"theirs_{key}.npy", out)
    if job["pil_value"] is not None:
        np.save(folder / f"pil_{key}.npy", np.stack([pil(image, job["name"], job["pil_value"]) for image in images]))
(folder / "times.json").write_text(json.dumps(times))
"""


def peer_python(venv: Path, python: str) -> Path:
    """The peer venv's interpreter, after creating the venv and installing imagecorruptions if it lacks it."""
    binary = venv / "bin" / "python"
    check = [binary, "-c", "import imagecorruptions"]
    if binary.exists() and subprocess.run(check, stderr=subprocess.DEVNULL).returncode == 0:
        return binary
    print(f"creating {venv} with {python} and installing imagecorruptions (once)", file=sys.stderr)
    subprocess.run([python, "-m", "venv", venv], check=True)
    pip = [binary, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, *PEER_PACKAGES], check=True)
    # its declared dependency is the GUI opencv-python; the headless build above serves it
    subprocess.run([*pip, "--no-deps", "imagecorruptions==1.1.2"], check=True)
    return binary


def peer_versions(binary: Path) -> str:
    code = ("import importlib.metadata as m; print(', '.join(f'{p} {m.version(p)}' for p in "
            "('imagecorruptions', 'numpy', 'scipy', 'scikit-image', 'opencv-python-headless', 'Pillow')))")
    return subprocess.run([binary, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def render(count: int, side: int) -> np.ndarray:
    params = mini.WorldParams(image_size=side)
    images, _ = mini.render(mini.sample_attributes(count, seed=side, params=params), params)
    return images


def ours(images: np.ndarray, name: str, severity: int) -> np.ndarray:
    """uint8 N x H x W x 3 -> uint8, through one batched call (the conversions are part of the timed work)."""
    batch = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    out = corruptions.corrupt(batch, name, severity, generator=0)
    return (out * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def time_ours(images: np.ndarray, name: str, severity: int, threads: int) -> tuple[float, np.ndarray]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        ours(images[:2], name, severity)  # warm-up: first-call allocations and dispatch
        start = time.perf_counter()
        out = ours(images, name, severity)
        return time.perf_counter() - start, out
    finally:
        torch.set_num_threads(previous)


def pil_value(name: str, severity: int, side: int) -> float | None:
    """Our parameter for a deterministic corruption at this side (pixelate's factor, JPEG's quality)."""
    if name not in DETERMINISTIC:
        return None
    table = {"pixelate": corruptions._PIXELATE, "jpeg_compression": corruptions._JPEG}[name]
    return next(iter(corruptions._params(table, severity, side).values()))


def mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean() / 255)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n32", type=int, default=256, help="images at 32 px")
    parser.add_argument("--n224", type=int, default=32, help="images at 224 px")
    parser.add_argument("--severities", type=int, nargs="+", default=[3])
    parser.add_argument("--corruptions", nargs="+", default=list(SHARED), choices=SHARED)
    parser.add_argument("--repeats", type=int, default=5, help="rounds of runs; the fastest of each is kept")
    parser.add_argument("--peer-venv", type=Path, default=REPO / "benchmarks" / ".venv-peers")
    parser.add_argument("--python", default="python3.11", help="interpreter the peer venv is made with")
    args = parser.parse_args()
    binary = peer_python(args.peer_venv, args.python)
    sides = {32: render(args.n32, 32), 224: render(args.n224, 224)}
    jobs = [{"side": side, "name": name, "severity": severity, "pil_value": pil_value(name, severity, side)}
            for side in sides for name in args.corruptions for severity in args.severities]
    keys = [f"{job['side']}_{job['name']}_{job['severity']}" for job in jobs]
    best = {side: dict.fromkeys(keys, float("inf")) for side in ("ours", "ours_1", "theirs")}
    threads = torch.get_num_threads()
    rows = []
    with tempfile.TemporaryDirectory(prefix="corruptions-bench-") as tmp:
        tmp = Path(tmp)
        for side, images in sides.items():
            np.save(tmp / f"images_{side}.npy", images)
        (tmp / "jobs.json").write_text(json.dumps(jobs))
        outputs = {}
        for _ in range(args.repeats):
            subprocess.run([binary, "-c", PEER_WORKER, tmp], check=True)
            for key, seconds in json.loads((tmp / "times.json").read_text()).items():
                best["theirs"][key] = min(best["theirs"][key], seconds)
            for job, key in zip(jobs, keys):
                images = sides[job["side"]]
                seconds, outputs[key] = time_ours(images, job["name"], job["severity"], threads)
                best["ours"][key] = min(best["ours"][key], seconds)
                seconds, _ = time_ours(images, job["name"], job["severity"], 1)
                best["ours_1"][key] = min(best["ours_1"][key], seconds)
        for job, key in zip(jobs, keys):
            side, name = job["side"], job["name"]
            images, out, theirs = sides[side], outputs[key], np.load(tmp / f"theirs_{key}.npy")
            deterministic = name in DETERMINISTIC
            rows.append({
                "side": side, "name": name, "severity": job["severity"], "n": len(images),
                **{column: len(images) / best[column][key] for column in best},
                "change_ours": mean_abs(out, images), "change_theirs": mean_abs(theirs, images),
                "mad": mean_abs(out, theirs) if deterministic and side == 224 else None,
                "mad_pil": mean_abs(out, np.load(tmp / f"pil_{key}.npy")) if deterministic else None,
            })
    print("machine: " + describe_host(f"torch {torch.__version__} ({torch.get_num_threads()} threads)"))
    print(f"peer venv: {peer_versions(binary)}")
    print(f"fastest of {args.repeats} rounds; images/s from uint8 in to uint8 out; [0, 1] units for change and MAD\n")
    print("| px | corruption | sev | images | ours img/s | ours 1 thread | theirs img/s | ratio | ratio 1 thread | "
          "change ours | change theirs | MAD | MAD vs PIL |")
    print("|---" * 13 + "|")

    def optional(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    for row in rows:
        print(f"| {row['side']} | {row['name']} | {row['severity']} | {row['n']} | {row['ours']:.0f} | "
              f"{row['ours_1']:.0f} | {row['theirs']:.1f} | {row['ours'] / row['theirs']:.1f} | "
              f"{row['ours_1'] / row['theirs']:.1f} | {row['change_ours']:.4f} | {row['change_theirs']:.4f} | "
              f"{optional(row['mad'])} | {optional(row['mad_pil'])} |")


if __name__ == "__main__":
    main()

"""Process set-up shared by the workflow scripts: logging to the rule's log, threads, seeds, device."""

from __future__ import annotations

import logging
import os
import random
import sys

import numpy as np


def log_to_file(path: str | os.PathLike | None) -> logging.Logger:
    """Send stdout, stderr (tqdm, warnings, tracebacks) and ``logging`` to ``path``, line-buffered."""
    if path:
        stream = open(path, "a", buffering=1)  # noqa: SIM115 -- lives as long as the process
        sys.stdout = sys.stderr = stream
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    return logging.getLogger("synclone")


def setup_torch(threads: int, seed: int, device: str = "auto"):
    """Seed every RNG, cap torch's threads to what the job was given, and pick the device.

    ``device`` is ``auto`` (GPU when present), ``cpu`` or ``cuda``. Returns a ``torch.device``.
    """
    import torch

    torch.set_num_threads(max(1, min(int(threads), os.cpu_count() or 1)))
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("the config asks for device 'cuda' but no GPU is visible; set device: auto or cpu")
    return torch.device(device)

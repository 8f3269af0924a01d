"""Data-parallel training in several processes (one per GPU, NCCL; or on a CPU with gloo), started from inside a job.

A Snakemake ``script:`` cannot be started by torchrun, and workers started by ``multiprocessing`` would either run
the job's script again (``spawn`` re-imports ``__main__``) or inherit the CUDA state of the job (``fork``). So the
job starts fresh ``python -m synclone.distributed`` processes through torch's elastic launcher (torchrun's engine:
a local rendezvous on a free port, and the other workers stopped when one fails). Each builds the same model from
the same seed, trains its share of every global batch (``synclone.training``), and rank 0 hands the weights and the
history back through a file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any, Iterator

import torch

from synclone.training import TrainJob, run_train_job

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def _stdio_to_python_streams() -> Iterator[None]:
    """Point file descriptors 1 and 2 at ``sys.stdout`` / ``sys.stderr`` while the workers run: they inherit the
    descriptors, and ``synclone.runtime.log_to_file`` redirects only Python's streams to the rule's log."""
    try:
        targets = [sys.stdout.fileno(), sys.stderr.fileno()]
    except (AttributeError, ValueError, io.UnsupportedOperation):  # a stream without a descriptor (a test capture)
        yield
        return
    saved = [os.dup(1), os.dup(2)]
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    try:
        os.dup2(targets[0], 1)
        os.dup2(targets[1], 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def launch_training(job: TrainJob, processes: int, device_type: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train ``job`` on ``processes`` workers (``device_type`` ``cuda``: one GPU each, else CPU with gloo); returns
    the trained model (on the CPU, in eval mode) and rank 0's history. A worker's failure raises RuntimeError."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from synclone.models.classifier import build_classifier

    if device_type == "cuda" and torch.cuda.device_count() < processes:
        raise RuntimeError(f"the job asks for {processes} GPUs but {torch.cuda.device_count()} are visible; "
                           f"lower compute.jobs.train.gpu or give the job more GPUs")
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=processes, run_id=uuid.uuid4().hex,
                          rdzv_backend="c10d", rdzv_endpoint="127.0.0.1:0", max_restarts=0, monitor_interval=0.5)
    with tempfile.TemporaryDirectory(prefix="synclone-ddp-") as tmp:
        job_path, result_path = Path(tmp) / "job.json", Path(tmp) / "result.pt"
        job_path.write_text(json.dumps(dataclasses.asdict(job)))
        logger.info("starting %d training processes (%s)", processes, "NCCL" if device_type == "cuda" else "gloo")
        try:
            with _stdio_to_python_streams():
                elastic_launch(config, sys.executable)("-m", "synclone.distributed", device_type, str(job_path),
                                                       str(result_path))
        except ChildFailedError as error:
            failures = "; ".join(f"rank {rank}: exit code {failure.exitcode}"
                                 for rank, failure in sorted(error.failures.items()))
            raise RuntimeError(f"data-parallel training failed ({failures}); the workers' tracebacks are in the "
                               f"log above this line") from None
        result = torch.load(result_path, weights_only=True)
    model = build_classifier(job.arch, arch_kwargs=job.arch_kwargs)
    model.load_state_dict(result["state_dict"])
    return model.eval(), result["history"]


def _worker(device_type: str, job_path: str, result_path: str) -> None:
    """One training process; the launcher sets RANK, LOCAL_RANK, WORLD_SIZE and the rendezvous address."""
    import torch.distributed as dist

    from synclone.runtime import log_to_file, setup_torch
    from synclone.streaming import loader_workers

    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    log_to_file(None)
    if rank:  # one progress bar and one set of epoch lines in the log: rank 0's
        logging.getLogger().setLevel(logging.WARNING)
    job = TrainJob(**json.loads(Path(job_path).read_text()))
    setup_torch(job.threads, job.seed, "cpu")
    if device_type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        device = torch.device("cpu")
        dist.init_process_group("gloo")
    try:
        model, history = run_train_job(job, device, loader_workers(job.threads, device))
        if rank == 0:
            torch.save({"state_dict": model.state_dict(), "history": history}, result_path)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    _worker(*sys.argv[1:])

"""End-to-end: the real Snakefile on a tiny mini world, then reruns, a changed hyper-parameter and determinism."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest

from synclone.io import read_json
from synclone.results import validate_result
from tests.configs import REPO, tiny_config, write_config

pytestmark = pytest.mark.e2e


def snakemake_command(workdir: Path, config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
            "--configfile", str(config), "--cores", "2", *args]


def snakemake(workdir: Path, config: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    run = subprocess.run(snakemake_command(workdir, config, *args), capture_output=True, text=True, timeout=timeout)
    if run.returncode != 0:
        logs = "\n".join(f"== {p}\n{p.read_text()[-3000:]}" for p in sorted((workdir / "logs").rglob("*.log")))
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{run.stdout[-4000:]}\n{run.stderr[-6000:]}\n{logs}")
    return run


def planned_outputs(run: subprocess.CompletedProcess) -> set[str]:
    """Output files of the jobs a dry run would execute."""
    text = run.stdout + run.stderr
    return {path for line in re.findall(r"^\s*output: (.+)$", text, re.M) for path in line.split(", ")}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiny")
    config = write_config(tiny_config(), workdir / "tiny.yaml")
    snakemake(workdir, config)
    return workdir, config


def result_jsons(workdir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(workdir)): p.read_bytes() for p in sorted((workdir / "results").rglob("*.json"))}


def test_every_result_exists_and_follows_the_schema(tiny_run):
    workdir, _ = tiny_run
    config = tiny_config()
    benchmarked = [m for m, spec in config["models"].items() if spec.get("role", "benchmark") == "benchmark"]
    assert benchmarked and len(benchmarked) < len(config["models"])  # the reference model is trained, not scored
    for model in benchmarked:
        for metric in config["metrics"]:
            result = read_json(workdir / "results" / model / f"{metric}.json")
            validate_result(result)
            assert result["model"] == model and result["metric"] == metric
    for prompt_set in config["prompt_sets"]:
        fidelity = read_json(workdir / "results" / "generator" / f"{prompt_set}.json")
        validate_result(fidelity)
        assert 0.0 <= fidelity["datasets"][prompt_set]["values"]["fidelity"] <= 1.0
    for name in ("tables/calibration.csv", "tables/adversarial.md", "figures/calibration.png", "report.md"):
        assert (workdir / "results" / name).stat().st_size > 0
    for dataset in config["datasets"]:
        assert (workdir / "results" / "data" / f"{dataset}.png").stat().st_size > 0


def test_a_second_run_has_nothing_to_do(tiny_run):
    workdir, config = tiny_run
    run = snakemake(workdir, config, "-n")
    assert "Nothing to be done" in run.stdout + run.stderr


def test_changing_one_model_reruns_only_that_model_and_the_report(tiny_run):
    workdir, _ = tiny_run
    changed = tiny_config()
    changed["models"]["resnet_syn"]["train"]["lr"] = 0.001
    path = write_config(changed, workdir / "changed.yaml")
    planned = planned_outputs(snakemake(workdir, path, "-n"))
    model_outputs = {p for p in planned if not p.startswith("results/") or p.startswith("results/resnet_syn/")}
    assert all("resnet_syn" in p for p in model_outputs), planned
    assert "checkpoints/resnet_syn.pt" in planned
    assert {f"results/resnet_syn/{metric}.json" for metric in changed["metrics"]} <= planned
    assert "results/report.md" in planned
    others = [m for m in changed["models"] if m != "resnet_syn"]
    assert not [p for p in planned if any(m in p for m in others)], planned
    assert not [p for p in planned if p.startswith(("data/", "synthetic/", "prompts/", "results/generator/"))]


def test_two_runs_with_the_same_seed_give_identical_json(tiny_run, tmp_path):
    workdir, _ = tiny_run
    config = write_config(tiny_config(), tmp_path / "tiny.yaml")
    snakemake(tmp_path, config)
    first, second = result_jsons(workdir), result_jsons(tmp_path)
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []

"""The workflow on SLURM: `snakemake --profile slurm` on a one-node cluster that tests/slurm/cluster.sh runs here."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.configs import REPO, tiny_config, write_config
from tests.test_workflow import result_jsons, snakemake

pytestmark = pytest.mark.slurm

CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
PROFILE = REPO / "slurm" / "config.yaml"
OVERLAY = REPO / "tests" / "slurm" / "profile" / "config.yaml"
# As a user types them in the repository root: the cluster profile, then the local cluster's overlay on it.
PROFILES = ("--profile", "slurm", "--profile", "tests/slurm/profile")
SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.$", re.M)
JOB_BLOCK = re.compile(r"^ *(?:local)?rule (\w+):\n((?: {4,}\w+: .*\n)+)", re.M)


def bounded(seconds: int, *command) -> subprocess.CompletedProcess:
    """Run a command under `timeout -k`: Snakemake ignores SIGTERM while it waits for jobs, so KILL follows it."""
    command = ["timeout", "-k", "30", str(seconds), *map(str, command)]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True)


def slurm_snakemake(seconds: int, *args) -> subprocess.CompletedProcess:
    return bounded(seconds, sys.executable, "-m", "snakemake", *PROFILES, *args)


def explain(run: subprocess.CompletedProcess, workdir: Path) -> str:
    """The end of Snakemake's output and of every SLURM log, for a failed assertion."""
    timed_out = " (timed out)" if run.returncode in (124, 137) else ""
    logs = "\n".join(f"== {path}\n{path.read_text()[-2000:]}"
                     for path in sorted((workdir / ".snakemake" / "slurm_logs").rglob("*.log")))
    return f"exit {run.returncode}{timed_out}\n{run.stdout[-3000:]}\n{run.stderr[-6000:]}\n{logs}"


def jobs_in(log: str) -> list[tuple[str, frozenset[str], int]]:
    """(rule, outputs, threads) of every job block a Snakemake log prints; threads are printed only when above 1."""
    jobs = []
    for rule, body in JOB_BLOCK.findall(log):
        fields = dict(re.findall(r"^ +(\w+): (.*)$", body, re.M))
        outputs = frozenset(fields["output"].split(", ")) if "output" in fields else frozenset()
        jobs.append((rule, outputs, int(fields.get("threads", 1))))
    return jobs


def threads_by_output(log: str) -> dict[str, int]:
    return {path: threads for _, outputs, threads in jobs_in(log) for path in outputs}


def slurm_jobs(job_ids) -> dict[str, tuple[str, int]]:
    """State and CPU count of each job as squeue reports them (finished jobs stay listed for MinJobAge)."""
    run = bounded(60, "squeue", "--noheader", "--states=all", f"--jobs={','.join(job_ids)}", "--format=%i|%T|%C")
    assert run.returncode == 0, run.stderr
    rows = (line.split("|") for line in run.stdout.split())
    return {job_id: (state, int(cpus)) for job_id, state, cpus in rows}


def slurm_config() -> dict:
    """The tiny world with calibration on the test set alone, so one model needs no filtered or extra datasets."""
    config = tiny_config()
    config["metrics"]["calibration"]["eval_sets"] = ["test"]
    return config


def one_synthetic_model(config: dict) -> list[str]:
    """Targets: one synthetic model's calibration, corruption and adversarial results. Rendering, prompts, the
    generator, its shards, training, the predictions group and the attack run, in 8 SLURM jobs; each starts
    Snakemake twice, so all of the tiny world would take over 20 minutes on 2 loaded cores."""
    model = next(name for name, spec in config["models"].items() if spec["data"].startswith("synthetic/"))
    metrics = ("calibration", "corruptions", "adversarial")
    assert set(metrics) <= config["metrics"].keys(), config["metrics"].keys()
    return [f"results/{model}/{metric}.json" for metric in metrics]


def cluster(action: str) -> subprocess.CompletedProcess:
    return bounded(300, "bash", CLUSTER, action)


@pytest.fixture(scope="module")
def slurm_cluster():
    if os.geteuid() != 0:
        pytest.skip("the local SLURM cluster needs root: it installs Debian packages and starts munged and slurmd")
    if shutil.which("apt-get") is None:
        pytest.skip("the local SLURM cluster needs apt-get to install Debian's slurm packages")
    assert importlib.util.find_spec("snakemake_executor_plugin_slurm"), \
        "snakemake-executor-plugin-slurm is missing: pip install -e '.[test]'"
    was_running = cluster("status").returncode == 0
    start = cluster("start")
    assert start.returncode == 0, f"cluster.sh start failed (exit {start.returncode}):\n{start.stderr}"
    yield
    if not was_running:
        stop = cluster("stop")
        assert stop.returncode == 0, f"cluster.sh stop failed (exit {stop.returncode}):\n{stop.stderr}"


def test_every_gpu_rule_gets_a_gpu_in_the_profile_and_none_in_the_overlay(tmp_path):
    # A dry run with the cluster profile: it parses, its groups form, and no rule that can use a GPU lacks one.
    # Conda is not installed here: --sdm env-modules replaces the profile's conda (no rule declares envmodules).
    config = write_config(tiny_config(), tmp_path / "tiny.yaml")
    run = bounded(300, sys.executable, "-m", "snakemake", "--profile", "slurm", "-n", "--sdm", "env-modules",
                  "-s", REPO / "Snakefile", "-d", tmp_path, "--configfile", config)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    log = run.stdout + run.stderr
    resources = {rule: dict(re.findall(r"(\w+)=([^,\n]+)", re.search(r"resources: (.*)", body).group(1)))
                 for rule, body in JOB_BLOCK.findall(log) if "resources:" in body}
    gpu_rules = {rule for rule, values in resources.items() if "gpu" in values}
    assert gpu_rules, "no rule declares a gpu resource"
    assert {rule: resources[rule]["gpu"] for rule in gpu_rules} == dict.fromkeys(gpu_rules, "1")
    assert {rule: resources[rule]["slurm_partition"] for rule in gpu_rules} == dict.fromkeys(gpu_rules, "gpu")
    assert all(resources[rule]["cpus_per_gpu"].isdigit() for rule in gpu_rules)  # `threads` was evaluated
    assert {"Group job predictions", "Group job render", "Group job prompts", "Group job fidelity"} <= set(
        re.findall(r"Group job \w+", log))
    # The overlay must name the same rules, or the local cluster would be asked for a GPU.
    profile, overlay = (yaml.safe_load(path.read_text())["set-resources"] for path in (PROFILE, OVERLAY))
    assert overlay.keys() == profile.keys()
    assert all(spec["gpu"] == 0 for spec in overlay.values())


def test_the_workflow_on_slurm_gives_the_local_results_byte_for_byte(slurm_cluster, tmp_path):
    config = write_config(slurm_config(), tmp_path / "tiny.yaml")
    targets = one_synthetic_model(slurm_config())
    on_slurm = tmp_path / "slurm"
    run = slurm_snakemake(1500, *targets, "-s", REPO / "Snakefile", "-d", on_slurm, "--configfile", config)
    assert run.returncode == 0, explain(run, on_slurm)
    log = run.stdout + run.stderr

    submitted = dict(SUBMITTED.findall(log))
    jobs = slurm_jobs(submitted)
    assert {job_id: state for job_id, (state, _) in jobs.items()} == dict.fromkeys(submitted, "COMPLETED")
    # Every job ran inside a SLURM job: its SLURM log (named by the SLURM job id) shows the job's outputs.
    slurm_logs = {job_id: Path(path).read_text() for job_id, path in submitted.items()}
    scheduled = {rule for rule, _, _ in jobs_in(log)} - {"all"}
    ran_in_slurm = threads_by_output("".join(slurm_logs.values()))
    assert set(threads_by_output(log)) == set(ran_in_slurm)
    assert scheduled == {"render_dataset", "build_prompts", "train_generator", "generate_shard", "train_model",
                         "predict", "predict_corruptions", "evaluate_logits", "evaluate_adversarial"}
    # SLURM gave each job the threads it ran with; a group job runs its jobs in layers at most that wide.
    for job_id, text in slurm_logs.items():
        threads = {threads for _, _, threads in jobs_in(text)}
        cpus = jobs[job_id][1]
        assert (max(threads) <= cpus <= 2) if "/group_" in submitted[job_id] else (threads == {cpus}), job_id

    local = tmp_path / "local"
    local_log = snakemake(local, config, *targets)
    assert threads_by_output(local_log.stdout + local_log.stderr) == ran_in_slurm
    expected, got = result_jsons(local), result_jsons(on_slurm)
    assert sorted(expected) == sorted(targets) == sorted(got)
    assert [name for name in expected if expected[name] != got[name]] == []


def test_a_failing_job_fails_the_run_and_names_its_logs(slurm_cluster, tmp_path):
    run = slurm_snakemake(300, "-s", REPO / "tests" / "slurm" / "failing.smk", "-d", tmp_path)
    assert run.returncode not in (0, 124, 137), explain(run, tmp_path)
    log = run.stdout + run.stderr
    [(job_id, slurm_log)] = SUBMITTED.findall(log)
    assert slurm_jobs([job_id])[job_id][0] == "FAILED"
    error = log[log.index("Error in rule fail:"):]
    assert f"SLURM-job '{job_id}' failed, SLURM status is: 'FAILED'" in error
    assert f"log: logs/fail.log, {slurm_log}" in error
    assert (tmp_path / "logs" / "fail.log").read_text() == "failing on purpose\n"
    assert "srun: error" in Path(slurm_log).read_text()

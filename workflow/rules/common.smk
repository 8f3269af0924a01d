# Config validation, registries -> target lists, and every input/params helper of the workflow.
import os
import re

from snakemake.exceptions import WorkflowError

from synclone.metrics import PREDICTION_NAMES
from synclone.config import ConfigError, check_names, load_schema, validate_config
from synclone.seeding import derive_seed
from synclone import registries

try:
    validate_config(config, load_schema(workflow.source_path("../schemas/config.schema.yaml")))
    check_names(config, **registries.names())
    registries.check_params(config)
except ConfigError as error:
    raise WorkflowError(f"{error}") from None


CONDA_ENV = "../../envs/synclone.yaml"
SEED = config["seed"]
DATASETS = config["datasets"]
MODELS = config["models"]
METRICS = config["metrics"]
PROMPT_SETS = config.get("prompt_sets", [])
GENERATOR = config.get("generator")
RENDERED = [name for name, spec in DATASETS.items() if spec["source"] == "render"]
FILTERED = [name for name, spec in DATASETS.items() if spec["source"] == "filter"]
# reference models are trained (the hard split's filter) but neither evaluated nor reported
BENCHMARKED = [name for name, spec in MODELS.items() if spec.get("role", "benchmark") == "benchmark"]
LOGIT_METRICS = [m for m in METRICS if m != "adversarial"]
BOOTSTRAP = config["bootstrap"]


def alternatives(names):
    """A wildcard constraint that matches exactly the given names."""
    return "|".join(map(re.escape, names)) if names else "(?!)"


wildcard_constraints:
    model=alternatives(MODELS),
    dataset=r"[A-Za-z][A-Za-z0-9_\-]*",
    eval_set=r"[A-Za-z][A-Za-z0-9_\-]*",
    prompt_set=alternatives(PROMPT_SETS),
    shard=r"\d+",
    metric=alternatives(METRICS),
    generator=alternatives([GENERATOR["name"]] if GENERATOR else []),


# ---- resources -------------------------------------------------------------------------------------------

JOB_DEFAULTS = {"threads": 1, "mem_mb": 2000, "runtime": 30, "gpu": 0}


def job(family, key):
    """Threads/resources of a job family (render, generate, train, predict, attack, evaluate, report)."""
    return config["compute"]["jobs"].get(family, {}).get(key, JOB_DEFAULTS[key])


def seed_for(*names):
    return derive_seed(SEED, *names)


# ---- data ------------------------------------------------------------------------------------------------


def dataset_dir(name):
    return f"data/{name}"


def shard_dirs(prompt_set):
    return [
        f"synthetic/{GENERATOR['name']}/{prompt_set}/shard-{i}" for i in range(GENERATOR["shards"])
    ]


def training_inputs(model):
    """Folders of the images a model trains on: a dataset, or every shard of a synthetic prompt set."""
    data = MODELS[model]["data"]
    if data.startswith("synthetic/"):
        return shard_dirs(data.removeprefix("synthetic/"))
    return [dataset_dir(data)]


# ---- predictions -----------------------------------------------------------------------------------------


def corruption_views():
    spec = METRICS.get("corruptions")
    if spec is None:
        return []
    names = [*spec["corruptions_2d"], *spec.get("corruptions_3d", [])]
    return [f"{name}-{severity}" for name in names for severity in spec["severities"]]


def metric_predictions(wildcards):
    """Prediction files a logit metric reads, keyed by eval set or view name."""
    names = PREDICTION_NAMES[wildcards.metric](METRICS[wildcards.metric])
    return {name: f"predictions/{wildcards.model}/{name}.npz" for name in names}


def metric_params(metric):
    """What a metric's result depends on besides its inputs (so a change reruns it), with each eval set's label map."""
    params = {**METRICS[metric], "bootstrap": {**BOOTSTRAP, "seed": seed_for("bootstrap", metric)}}
    if metric in PREDICTION_NAMES:
        label_maps = {
            name: DATASETS[name]["label_map"]
            for name in PREDICTION_NAMES[metric](METRICS[metric])
            if "label_map" in DATASETS.get(name, {})
        }
        if label_maps:
            params["label_maps"] = label_maps
    return params


# ---- targets ---------------------------------------------------------------------------------------------


def result_files():
    return [f"results/{model}/{metric}.json" for model in BENCHMARKED for metric in METRICS]


def fidelity_files():
    if GENERATOR is None:
        return []
    return [f"results/generator/{prompt_set}.json" for prompt_set in PROMPT_SETS]


def report_metrics():
    """What the report covers: every configured metric, plus the generator's fidelity when there is one."""
    return [*METRICS, "fidelity"] if GENERATOR else list(METRICS)


def report_files():
    return [f"results/{name}" for name in registries.report_outputs(report_metrics())]


def final_outputs():
    return [
        *result_files(),
        *fidelity_files(),
        *report_files(),
        *[f"results/data/{name}.png" for name in DATASETS],
    ]


def models_meta():
    """Display metadata for tables and figures."""
    return {
        name: {
            "group": spec["group"],
            "label": spec.get("label", name),
            "pair": spec.get("pair"),
            "kind": spec.get("kind", "supervised"),
            "paper_analogue": spec.get("paper_analogue"),
        }
        for name, spec in MODELS.items()
        if name in BENCHMARKED
    }

# Config validation, registries -> target lists, and every input/params helper of the workflow.
import os
import re

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from synclone.metrics import PREDICTION_NAMES
from synclone.config import ConfigError, check_names, load_schema, validate_config
from synclone.seeding import derive_seed
from synclone import registries
from synclone import ablations, clones
from synclone.acquire import sources

try:
    validate_config(config, load_schema(workflow.source_path("../schemas/config.schema.yaml")))
    check_names(config, **registries.names(config["world"]))
    registries.check_params(config)
    sources.check_paper_datasets(config)
except ConfigError as error:
    raise WorkflowError(f"{error}") from None


CONDA_ENV = "../../envs/synclone.yaml"
# Jobs import the library from this checkout, also in a conda environment that does not install it.
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [workflow.basedir, os.environ.get("PYTHONPATH")])))
SEED = config["seed"]
DATASETS = config["datasets"]
MODELS = config["models"]
METRICS = config["metrics"]
PROMPT_SETS = config.get("prompt_sets", [])
GENERATOR = config.get("generator")
GENERATOR_KIND = GENERATOR.get("kind", "mini") if GENERATOR else None
RENDERED = [name for name, spec in DATASETS.items() if spec["source"] == "render"]
FILTERED = [name for name, spec in DATASETS.items() if spec["source"] == "filter"]
# paper mode: registry entry -> spec with the config's overrides; archive file name -> registry entry
PAPER_SPECS = sources.paper_specs(DATASETS)
ARCHIVES = {
    os.path.basename(path): name
    for name, path in ((name, sources.archive_path(spec)) for name, spec in PAPER_SPECS.items())
    if path
}
for name, spec in PAPER_SPECS.items():
    if missing := sources.missing_user_files(spec):
        logger.warning(f"datasets: {name} needs {' and '.join(missing)}, not there yet; its prepare_dataset job "
                       f"fails until they are (get them from image-net.org, or set the dataset's path)")
# corrupted views read from ImageNet-C / 3DCC image sets: view name -> (dataset, image set)
DISK_VIEWS = sources.disk_corruption_views(config["metrics"].get("corruptions"), DATASETS)
# each eval set's label map (the config's, else the paper registry's), looked up once
LABEL_MAPS = {name: sources.dataset_label_map(name, DATASETS) for name in DATASETS}
# reference models are trained (the hard split's filter) but neither evaluated nor reported
BENCHMARKED = [name for name, spec in MODELS.items() if spec.get("role", "benchmark") == "benchmark"]
# the ablation sweeps' points (synclone.ablations): models of their own (role ablation), built by target `ablations`
try:
    ABLATION_MODELS = ablations.expand_ablations(config, registries.names(config["world"])["prompt_strategies"])
except ConfigError as error:
    raise WorkflowError(f"{error}") from None
ABLATION_PROMPT_SETS = ablations.ablation_prompt_sets(config)
MODELS = {**MODELS, **ABLATION_MODELS}
# models imported from published weights (weights:; fetch_weights + import_model) instead of trained here (data:)
IMPORTED = [name for name, spec in MODELS.items() if "weights" in spec]
# models trained here, by kind (synclone.clones): supervised (train_model), self-supervised (pretrain_ssl +
# linear_probe), clip (train_clip + zero_shot_head)
SUPERVISED_TRAINED, SSL_TRAINED, CLIP_TRAINED = (
    [name for name, spec in MODELS.items() if clones.trained_here(spec) and clones.kind_of(spec) == kind]
    for kind in clones.KINDS
)
# training sets cut to images_per_class (size sweeps, real:synthetic mixes): source -> counts per class
SUBSETS = clones.subset_counts(MODELS)
LOGIT_METRICS = [m for m in METRICS if m != "adversarial"]
BOOTSTRAP = config["bootstrap"]


def alternatives(names):
    """A wildcard constraint that matches exactly the given names."""
    return "|".join(map(re.escape, names)) if names else "(?!)"


wildcard_constraints:
    model=alternatives(MODELS),
    dataset=r"[A-Za-z][A-Za-z0-9_\-]*",
    eval_set=r"[A-Za-z][A-Za-z0-9_\-]*",
    prompt_set=alternatives([*PROMPT_SETS, *ABLATION_PROMPT_SETS]),
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
    """The folder a rule writes for a config dataset (data/<registry entry> for a paper dataset)."""
    return sources.dataset_folder(name, DATASETS)


def image_set_dir(name):
    """The folder with metadata.csv of an eval set or a view read from disk (inside dataset_dir)."""
    if name in DISK_VIEWS:
        dataset, image_set = DISK_VIEWS[name]
        return sources.image_set_folder(dataset, DATASETS, image_set)
    return sources.image_set_folder(name, DATASETS)


def image_set_input(name):
    """What a job reading image set ``name`` depends on: the folder the data rule writes."""
    return dataset_dir(DISK_VIEWS[name][0] if name in DISK_VIEWS else name)


def prepare_inputs(wildcards):
    """prepare_dataset's inputs: the archive, or the user's files that exist (see sources.missing_user_files)."""
    spec = PAPER_SPECS[wildcards.dataset]
    missing = sources.missing_user_files(spec)
    return {key: path for key, path in sources.prepare_sources(spec).items() if path not in missing}


def dataset_grids():
    """Preview grids: one per rendered or filtered dataset, one per prepared paper dataset."""
    names = [name for name, spec in DATASETS.items() if not sources.is_paper(spec)]
    return [f"results/data/{name}.png" for name in [*names, *PAPER_SPECS]]


def shard_dirs(prompt_set):
    return [
        f"synthetic/{GENERATOR['name']}/{prompt_set}/shard-{i}" for i in range(GENERATOR["shards"])
    ]


def prompt_inputs(wildcards):
    """The caption file the paper world's captions prompt set reads (so editing it rebuilds the prompts)."""
    if config["world"] == "paper" and wildcards.prompt_set == "captions":
        return {"captions": GENERATOR["captions_file"]}
    return {}


def clone_targets():
    """The configured models trained on synthetic images (not the ablation sweeps'), and the shards they learn from."""
    names = [name for name, spec in config["models"].items() if spec.get("data", "").startswith("synthetic/")]
    shards = dict.fromkeys(folder for name in names for folder in source_dirs(MODELS[name]["data"]))
    return [*shards, *[f"checkpoints/{name}.pt" for name in names]]


def source_dirs(data):
    """Folders of a training source: a dataset, or every shard of a synthetic prompt set."""
    if data.startswith("synthetic/"):
        return shard_dirs(data.removeprefix("synthetic/"))
    return [dataset_dir(data)]


def subset_dir(source, count):
    return f"subsets/{source}/per_class-{count}"


def training_inputs(model):
    """Folders of the images a model trains on: its source's, or with images_per_class (and mix) the per-class
    subsets of each source."""
    spec = MODELS[model]
    if "images_per_class" in spec:
        return [subset_dir(source, count) for source, count in clones.mix_counts(spec).items()]
    return source_dirs(spec["data"])


# ---- predictions -----------------------------------------------------------------------------------------


def corruption_views():
    """The corrupted views computed on the fly (not read from disk)."""
    spec = METRICS.get("corruptions")
    if spec is None:
        return []
    names = sources.computed_corruptions(spec)
    return [f"{name}-{severity}" for name in names for severity in spec["severities"]]


def predicted_sets():
    """Every image set a logit metric reads that the predict rule makes (eval sets and views read from disk, not
    the corrupted views predict_corruptions computes on the fly)."""
    names = {name for metric in LOGIT_METRICS for name in PREDICTION_NAMES[metric](METRICS[metric])}
    return sorted(name for name in names if "@" not in name or name in DISK_VIEWS)


def metric_predictions(wildcards):
    """Prediction files a logit metric reads, keyed by eval set or view name."""
    names = PREDICTION_NAMES[wildcards.metric](METRICS[wildcards.metric])
    return {name: f"predictions/{wildcards.model}/{name}.npz" for name in names}


def metric_params(metric):
    """What a metric's result depends on besides its inputs (so a change reruns it), with each eval set's label map."""
    params = {**METRICS[metric], "bootstrap": {**BOOTSTRAP, "seed": seed_for("bootstrap", metric)}}
    if metric in PREDICTION_NAMES:
        label_maps = {
            name: LABEL_MAPS[name]
            for name in PREDICTION_NAMES[metric](METRICS[metric])
            if LABEL_MAPS.get(name) is not None
        }
        if label_maps:
            params["label_maps"] = label_maps
    return params


# ---- targets ---------------------------------------------------------------------------------------------


def result_files():
    return [f"results/{model}/{metric}.json" for model in BENCHMARKED for metric in METRICS]


def fidelity_files():
    if GENERATOR is None or "judge" not in GENERATOR:
        return []
    return [f"results/generator/{prompt_set}.json" for prompt_set in PROMPT_SETS]


def report_metrics():
    """What the report covers: every configured metric, plus the generator's fidelity when there is one."""
    return [*METRICS, "fidelity"] if GENERATOR and "judge" in GENERATOR else list(METRICS)


# paper mode compares our numbers with the authors' published ones
PAPER_COMPARISON = config["world"] == "paper"


def report_files():
    return [f"results/{name}" for name in registries.report_outputs(report_metrics(), PAPER_COMPARISON)]


def final_outputs():
    return [
        *result_files(),
        *fidelity_files(),
        *report_files(),
        *dataset_grids(),
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

# Datasets: every image set is a folder of images + metadata.csv (see synclone.imageset).


rule render_dataset:
    """Render a mini-world split, deterministically from the config's seed."""
    output:
        images=directory("data/{dataset}"),
        grid=report(
            "results/data/{dataset}.png",
            caption="../report/dataset_grid.rst",
            category="Datasets",
            labels={"dataset": "{dataset}"},
        ),
    wildcard_constraints:
        dataset=alternatives(RENDERED),
    params:
        kind=lambda w: DATASETS[w.dataset]["kind"],
        n=lambda w: DATASETS[w.dataset]["n"],
        world=config.get("mini_world", {}).get("params", {}),
        grid_images=config.get("mini_world", {}).get("grid_images", 64),
        # one root for every split: the renderer derives each kind's seed (paired kinds, e.g. the IN-9 sets, share one)
        seed=seed_for("data"),
    log:
        "logs/render/{dataset}.log",
    benchmark:
        "logs/benchmarks/render/{dataset}.tsv"
    threads: job("render", "threads")
    resources:
        mem_mb=job("render", "mem_mb"),
        runtime=job("render", "runtime"),
    conda:
        CONDA_ENV
    script:
        "../scripts/render_dataset.py"


rule filter_misclassified:
    """Keep the candidates a held-out reference model gets wrong (how ImageNet-A was built with a ResNet-50)."""
    input:
        candidates=lambda w: dataset_dir(DATASETS[w.dataset]["candidates"]),
        reference=lambda w: f"checkpoints/{DATASETS[w.dataset]['reference']}.pt",
    output:
        images=directory("data/{dataset}"),
        grid=report(
            "results/data/{dataset}.png",
            caption="../report/dataset_grid.rst",
            category="Datasets",
            labels={"dataset": "{dataset}"},
        ),
    wildcard_constraints:
        dataset=alternatives(FILTERED),
    params:
        n=lambda w: DATASETS[w.dataset]["n"],
        seed=lambda w: seed_for("data", w.dataset),
        grid_images=config.get("mini_world", {}).get("grid_images", 64),
        batch_size=config["compute"].get("predict_batch_size", 512),
        device=config["compute"]["device"],
    log:
        "logs/filter/{dataset}.log",
    benchmark:
        "logs/benchmarks/filter/{dataset}.tsv"
    threads: job("predict", "threads")
    resources:
        mem_mb=job("predict", "mem_mb"),
        runtime=job("predict", "runtime"),
        gpu=job("predict", "gpu"),
    conda:
        CONDA_ENV
    script:
        "../scripts/filter_misclassified.py"


# ---- paper mode: real datasets (synclone.acquire; the registry is synclone/data/paper_datasets.yaml) --------

PAPER_GRID_IMAGES = 64  # preview images per prepared dataset


rule download_dataset:
    """Fetch a paper dataset's archive, md5-verified. A local rule: the submit host has internet, compute nodes
    do not. An archive put at the output path by hand is used as it is (prepare_dataset checks its md5)."""
    output:
        "downloads/{archive}",
    wildcard_constraints:
        archive=alternatives(ARCHIVES),
    params:
        spec=lambda w: sources.download_params(PAPER_SPECS[ARCHIVES[w.archive]]),
    log:
        "logs/download/{archive}.log",
    localrule: True
    retries: 2
    conda:
        CONDA_ENV
    script:
        "../scripts/download_dataset.py"


rule prepare_dataset:
    """Extract a paper dataset (or link the user's ImageNet val), check its layout, write each image set's
    metadata.csv and a preview grid."""
    input:
        unpack(prepare_inputs),
    output:
        data=directory("data/{dataset}"),
        grid=report(
            "results/data/{dataset}.png",
            caption="../report/dataset_grid.rst",
            category="Datasets",
            labels={"dataset": "{dataset}"},
        ),
    wildcard_constraints:
        dataset=alternatives(PAPER_SPECS),
    params:
        spec=lambda w: sources.prepare_params(PAPER_SPECS[w.dataset]),
        source=lambda w: sources.prepare_sources(PAPER_SPECS[w.dataset])["source"],
        grid_images=PAPER_GRID_IMAGES,
    log:
        "logs/prepare/{dataset}.log",
    benchmark:
        "logs/benchmarks/prepare/{dataset}.tsv"
    threads: job("prepare", "threads")
    resources:
        mem_mb=job("prepare", "mem_mb"),
        runtime=job("prepare", "runtime"),
    conda:
        CONDA_ENV
    script:
        "../scripts/prepare_dataset.py"

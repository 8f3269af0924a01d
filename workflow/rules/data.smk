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

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
        seed=lambda w: seed_for("data", w.dataset),
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

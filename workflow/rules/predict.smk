# The predictions cache: one forward pass per (model, eval set) feeds every logit metric.


rule predict:
    input:
        model="checkpoints/{model}.pt",
        data="data/{eval_set}",
    output:
        "predictions/{model}/{eval_set}.npz",
    params:
        batch_size=config["compute"].get("predict_batch_size", 512),
        device=config["compute"]["device"],
    log:
        "logs/predict/{model}/{eval_set}.log",
    benchmark:
        "logs/benchmarks/predict/{model}/{eval_set}.tsv"
    threads: job("predict", "threads")
    resources:
        mem_mb=job("predict", "mem_mb"),
        runtime=job("predict", "runtime"),
        gpu=job("predict", "gpu"),
    conda:
        CONDA_ENV
    script:
        "../scripts/predict.py"


rule predict_corruptions:
    """Every corrupted view of an eval set, computed on the fly in batches: one job per model."""
    input:
        model="checkpoints/{model}.pt",
        data="data/{eval_set}",
    output:
        [f"predictions/{{model}}/{{eval_set}}@{view}.npz" for view in corruption_views()],
    params:
        views=corruption_views(),
        n_images=METRICS.get("corruptions", {}).get("n_images"),
        subset_seed=seed_for("corruptions", "subset"),
        corruption_seed=seed_for("corruptions", "noise"),
        batch_size=METRICS.get("corruptions", {}).get("batch_size", 256),
        device=config["compute"]["device"],
    log:
        "logs/predict/{model}/{eval_set}@corruptions.log",
    benchmark:
        "logs/benchmarks/predict/{model}/{eval_set}@corruptions.tsv"
    threads: job("predict", "threads")
    resources:
        mem_mb=job("predict", "mem_mb"),
        runtime=job("predict", "runtime"),
        gpu=job("predict", "gpu"),
    conda:
        CONDA_ENV
    script:
        "../scripts/predict_corruptions.py"

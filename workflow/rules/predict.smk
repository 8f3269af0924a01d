# The predictions cache: one forward pass per (model, eval set) feeds every logit metric; the eval sets of a model
# are predicted in one job each or all in one (compute.predict_jobs).


if config["compute"].get("predict_jobs", "per_eval_set") == "per_model":

    rule predict:
        """Logits of every eval set of one model, in one job (compute.predict_jobs: per_model)."""
        input:
            model="checkpoints/{model}.pt",
            data=[image_set_input(name) for name in predicted_sets()],
        output:
            [f"predictions/{{model}}/{name}.npz" for name in predicted_sets()],
        params:
            image_sets=[image_set_dir(name) for name in predicted_sets()],
            batch_size=config["compute"].get("predict_batch_size", 512),
            device=config["compute"]["device"],
        log:
            "logs/predict/{model}/eval_sets.log",
        benchmark:
            "logs/benchmarks/predict/{model}/eval_sets.tsv"
        threads: job("predict", "threads")
        resources:
            mem_mb=job("predict", "mem_mb"),
            runtime=job("predict", "runtime"),
            gpu=job("predict", "gpu"),
        conda:
            CONDA_ENV
        script:
            "../scripts/predict.py"

else:

    rule predict:
        """Logits of one image set: an eval set, or (paper mode) a corrupted view read from ImageNet-C / 3DCC."""
        input:
            model="checkpoints/{model}.pt",
            data=lambda w: image_set_input(w.eval_set),
        output:
            "predictions/{model}/{eval_set}.npz",
        wildcard_constraints:
            eval_set=alternatives([*DATASETS, *DISK_VIEWS]),
        params:
            image_sets=lambda w: [image_set_dir(w.eval_set)],
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

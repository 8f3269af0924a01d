# Classifiers trained inside the workflow (real baselines and synthetic clones).


rule train_model:
    """Train one model on its data (a real split or every shard of a synthetic prompt set)."""
    input:
        lambda w: training_inputs(w.model),
    output:
        "checkpoints/{model}.pt",
    params:
        arch=lambda w: MODELS[w.model]["arch"],
        arch_kwargs=lambda w: MODELS[w.model].get("arch_kwargs", {}),
        train=lambda w: MODELS[w.model].get("train", {}),
        seed=lambda w: seed_for("train", w.model),
        device=config["compute"]["device"],
    log:
        "logs/train/{model}.log",
    benchmark:
        "logs/benchmarks/train/{model}.tsv"
    threads: job("train", "threads")
    resources:
        mem_mb=job("train", "mem_mb"),
        runtime=job("train", "runtime"),
        gpu=job("train", "gpu"),
    conda:
        CONDA_ENV
    script:
        "../scripts/train_model.py"

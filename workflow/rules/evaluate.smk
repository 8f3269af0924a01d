# One JSON per (model, metric). Logit metrics read the predictions cache; adversarial needs the model.


rule evaluate_logits:
    input:
        unpack(metric_predictions),
    output:
        "results/{model}/{metric}.json",
    wildcard_constraints:
        metric=alternatives(LOGIT_METRICS),
    params:
        metric="{metric}",
        model="{model}",
        config=lambda w: metric_params(w.metric),
    log:
        "logs/evaluate/{model}/{metric}.log",
    threads: job("evaluate", "threads")
    resources:
        mem_mb=job("evaluate", "mem_mb"),
        runtime=job("evaluate", "runtime"),
    conda:
        CONDA_ENV
    script:
        "../scripts/evaluate.py"


rule evaluate_adversarial:
    input:
        model="checkpoints/{model}.pt",
        data=lambda w: image_set_input(METRICS["adversarial"]["eval_set"]),
    output:
        "results/{model}/adversarial.json",
    params:
        image_set=lambda w: image_set_dir(METRICS["adversarial"]["eval_set"]),
        model="{model}",
        config=lambda w: metric_params("adversarial"),
        subset_seed=seed_for("adversarial", "subset"),
        attack_seed=lambda w: seed_for("adversarial", w.model),
        device=config["compute"]["device"],
    log:
        "logs/evaluate/{model}/adversarial.log",
    benchmark:
        "logs/benchmarks/evaluate/{model}/adversarial.tsv"
    threads: job("attack", "threads")
    resources:
        mem_mb=job("attack", "mem_mb"),
        runtime=job("attack", "runtime"),
        gpu=job("attack", "gpu"),
    conda:
        CONDA_ENV
    script:
        "../scripts/evaluate_adversarial.py"

# Classifiers trained inside the workflow (real baselines and synthetic clones, `data:` in the config) and
# pretrained ones imported from their published weights (`weights:`); both end as checkpoints/{model}.pt.


rule train_model:
    """Train one model on its data (a real split or every shard of a synthetic prompt set)."""
    wildcard_constraints:
        model=alternatives(SUPERVISED_TRAINED),
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


rule fetch_weights:
    """Make a pretrained model's weight files local: hub cache, download or the user's file (internet: a local rule)."""
    output:
        "checkpoints/weights/{model}.json",
    wildcard_constraints:
        model=alternatives(IMPORTED),
    params:
        arch=lambda w: MODELS[w.model]["arch"],
        weights=lambda w: MODELS[w.model]["weights"],
    log:
        "logs/fetch_weights/{model}.log",
    benchmark:
        "logs/benchmarks/fetch_weights/{model}.tsv"
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/fetch_weights.py"


rule import_model:
    """Our checkpoint of a pretrained model (key remapping; CLIP: the zero-shot head), offline on a compute node."""
    input:
        "checkpoints/weights/{model}.json",
    output:
        "checkpoints/{model}.pt",
    wildcard_constraints:
        model=alternatives(IMPORTED),
    params:
        arch=lambda w: MODELS[w.model]["arch"],
        arch_kwargs=lambda w: MODELS[w.model].get("arch_kwargs", {}),
        zero_shot=lambda w: MODELS[w.model].get("zero_shot", {}),
        seed=lambda w: seed_for("import", w.model),
        device=config["compute"]["device"],
    log:
        "logs/import/{model}.log",
    benchmark:
        "logs/benchmarks/import/{model}.tsv"
    threads: job("import", "threads")
    resources:
        mem_mb=job("import", "mem_mb"),
        runtime=job("import", "runtime"),
        gpu=job("import", "gpu"),
    conda:
        CONDA_ENV
    script:
        "../scripts/import_model.py"


# ---- self-supervised (SynCLR-style) and CLIP clones trained here (synclone.clones) ------------------------


rule subset_images:
    """The first images_per_class images of each class of a training source (nested across counts)."""
    input:
        lambda w: source_dirs(w.source),
    output:
        directory("subsets/{source}/per_class-{images}"),
    wildcard_constraints:
        source=alternatives(SUBSETS),
        images=r"\d+",
    params:
        images_per_class=lambda w: int(w.images),
    log:
        "logs/subsets/{source}/per_class-{images}.log",
    threads: 1
    resources:
        mem_mb=job("render", "mem_mb"),
        runtime=job("render", "runtime"),
    conda:
        CONDA_ENV
    script:
        "../scripts/subset_images.py"


rule pretrain_ssl:
    """Contrastive pretraining of a self-supervised clone's backbone on its data (SimCLR views, SynCLR positives)."""
    wildcard_constraints:
        model=alternatives(SSL_TRAINED),
    input:
        lambda w: training_inputs(w.model),
    output:
        "checkpoints/pretrained/{model}.pt",
    params:
        arch=lambda w: MODELS[w.model]["arch"],
        arch_kwargs=lambda w: MODELS[w.model].get("arch_kwargs", {}),
        train=lambda w: MODELS[w.model].get("train", {}),
        seed=lambda w: seed_for("pretrain", w.model),
        device=config["compute"]["device"],
    log:
        "logs/train/{model}.pretrain.log",
    benchmark:
        "logs/benchmarks/train/{model}.pretrain.tsv"
    threads: job("train", "threads")
    resources:
        mem_mb=job("train", "mem_mb"),
        runtime=job("train", "runtime"),
        gpu=job("train", "gpu"),
    conda:
        CONDA_ENV
    script:
        "../scripts/pretrain_ssl.py"


rule linear_probe:
    """A linear head on the frozen backbone, its learning rate chosen on held-out real training images."""
    wildcard_constraints:
        model=alternatives(SSL_TRAINED),
    input:
        pretrained="checkpoints/pretrained/{model}.pt",
        data=lambda w: dataset_dir(MODELS[w.model]["probe"]["data"]),
    output:
        model="checkpoints/{model}.pt",
        record="checkpoints/{model}.probe.json",
    params:
        probe=lambda w: {k: v for k, v in MODELS[w.model]["probe"].items() if k != "data"},
        seed=lambda w: seed_for("probe", w.model),
        device=config["compute"]["device"],
    log:
        "logs/train/{model}.probe.log",
    benchmark:
        "logs/benchmarks/train/{model}.probe.tsv"
    threads: job("train", "threads")
    resources:
        mem_mb=job("train", "mem_mb"),
        runtime=job("train", "runtime"),
        gpu=job("train", "gpu"),
    conda:
        CONDA_ENV
    script:
        "../scripts/linear_probe.py"


rule train_clip:
    """A tiny CLIP on (image, text) pairs: generated images and their prompts, rendered images and their captions."""
    wildcard_constraints:
        model=alternatives(CLIP_TRAINED),
    input:
        lambda w: training_inputs(w.model),
    output:
        "checkpoints/clip/{model}.pt",
    params:
        arch=lambda w: MODELS[w.model]["arch"],
        arch_kwargs=lambda w: MODELS[w.model].get("arch_kwargs", {}),
        train=lambda w: MODELS[w.model].get("train", {}),
        seed=lambda w: seed_for("clip", w.model),
        device=config["compute"]["device"],
    log:
        "logs/train/{model}.clip.log",
    benchmark:
        "logs/benchmarks/train/{model}.clip.tsv"
    threads: job("train", "threads")
    resources:
        mem_mb=job("train", "mem_mb"),
        runtime=job("train", "runtime"),
        gpu=job("train", "gpu"),
    conda:
        CONDA_ENV
    script:
        "../scripts/train_clip.py"


rule zero_shot_head:
    """The CLIP's image tower with class-name x template embeddings: a classifier checkpoint."""
    wildcard_constraints:
        model=alternatives(CLIP_TRAINED),
    input:
        "checkpoints/clip/{model}.pt",
    output:
        "checkpoints/{model}.pt",
    params:
        zero_shot=lambda w: MODELS[w.model].get("zero_shot", {}),
        device=config["compute"]["device"],
    log:
        "logs/train/{model}.zero_shot.log",
    threads: job("train", "threads")
    resources:
        mem_mb=job("train", "mem_mb"),
        runtime=job("train", "runtime"),
        gpu=job("train", "gpu"),
    conda:
        CONDA_ENV
    script:
        "../scripts/zero_shot_head.py"

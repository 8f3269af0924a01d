# The generator: prompts -> images, sharded. Kind mini: a text-conditioned diffusion model trained on the corpus;
# kind stable_diffusion: a pretrained Stable Diffusion pipeline (paper mode).


rule build_prompts:
    """One row per image to generate: prompt, label, seed (the world's vocabulary, classes in order)."""
    input:
        unpack(prompt_inputs),
    output:
        "prompts/{prompt_set}.csv",
    params:
        strategy="{prompt_set}",
        images_per_class=GENERATOR["images_per_class"] if GENERATOR else 0,
        seed=lambda w: seed_for("prompts", w.prompt_set),
        world=config["world"],
    log:
        "logs/prompts/{prompt_set}.log",
    threads: 1
    conda:
        CONDA_ENV
    script:
        "../scripts/build_prompts.py"


if GENERATOR_KIND == "stable_diffusion":

    rule generate_shard:
        """Sample one shard of a prompt set with Stable Diffusion; a rerun keeps the images a killed job made."""
        input:
            prompts="prompts/{prompt_set}.csv",
        output:
            directory("synthetic/{generator}/{prompt_set}/shard-{shard}"),
        params:
            shard=lambda w: int(w.shard),
            shards=GENERATOR["shards"],
            model={"model_id": GENERATOR["model_id"], "revision": GENERATOR.get("revision")},
            sample=GENERATOR.get("sample", {}),
            device=config["compute"]["device"],
        log:
            "logs/generate/{generator}/{prompt_set}/shard-{shard}.log",
        benchmark:
            "logs/benchmarks/generate/{generator}/{prompt_set}/shard-{shard}.tsv"
        priority: 10  # the synthetic clones wait for these
        threads: job("generate", "threads")
        resources:
            mem_mb=job("generate", "mem_mb"),
            runtime=job("generate", "runtime"),
            gpu=job("generate", "gpu"),
        conda:
            CONDA_ENV
        script:
            "../scripts/generate_shard_sd.py"

else:

    rule train_generator:
        """Train the mini world's text-conditioned diffusion model on the captioned corpus."""
        input:
            corpus=lambda w: dataset_dir(GENERATOR["corpus"]),
        output:
            "checkpoints/generator/{generator}.pt",
        params:
            train=GENERATOR["train"] if GENERATOR else {},
            seed=lambda w: seed_for("generator", w.generator),
            device=config["compute"]["device"],
        log:
            "logs/generator/{generator}.log",
        benchmark:
            "logs/benchmarks/generator/{generator}.tsv"
        priority: 20  # the critical path: everything synthetic waits for it
        threads: job("generate", "threads")
        resources:
            mem_mb=job("generate", "mem_mb"),
            runtime=job("generate", "runtime"),
            gpu=job("generate", "gpu"),
        conda:
            CONDA_ENV
        script:
            "../scripts/train_generator.py"

    rule generate_shard:
        """Sample one shard of a prompt set; a killed job redoes only its shard."""
        input:
            generator="checkpoints/generator/{generator}.pt",
            prompts="prompts/{prompt_set}.csv",
        output:
            directory("synthetic/{generator}/{prompt_set}/shard-{shard}"),
        params:
            shard=lambda w: int(w.shard),
            shards=GENERATOR["shards"] if GENERATOR else 1,
            sample=GENERATOR["sample"] if GENERATOR else {},
            device=config["compute"]["device"],
        log:
            "logs/generate/{generator}/{prompt_set}/shard-{shard}.log",
        benchmark:
            "logs/benchmarks/generate/{generator}/{prompt_set}/shard-{shard}.tsv"
        priority: 10  # the synthetic clones wait for these
        threads: job("generate", "threads")
        resources:
            mem_mb=job("generate", "mem_mb"),
            runtime=job("generate", "runtime"),
            gpu=job("generate", "gpu"),
        conda:
            CONDA_ENV
        script:
            "../scripts/generate_shard.py"


rule generator_fidelity:
    """Accuracy of a real-trained judge on generated images (label = the prompt's class), and a grid."""
    input:
        shards=lambda w: shard_dirs(w.prompt_set),
        judge=lambda w: f"checkpoints/{GENERATOR['judge']}.pt",
    output:
        json="results/generator/{prompt_set}.json",
        grid=report(
            "results/generator/{prompt_set}.png",
            caption="../report/generator_grid.rst",
            category="Generator",
            labels={"prompt set": "{prompt_set}"},
        ),
    params:
        generator=GENERATOR["name"] if GENERATOR else "",
        judge=GENERATOR.get("judge", "") if GENERATOR else "",
        bootstrap=lambda w: {**BOOTSTRAP, "seed": seed_for("bootstrap", "fidelity", w.prompt_set)},
        grid_images=GENERATOR.get("grid_images", 100) if GENERATOR else 0,
        device=config["compute"]["device"],
    log:
        "logs/generator/fidelity-{prompt_set}.log",
    benchmark:
        "logs/benchmarks/generator/fidelity-{prompt_set}.tsv"
    threads: job("predict", "threads")
    resources:
        mem_mb=job("predict", "mem_mb"),
        runtime=job("predict", "runtime"),
        gpu=job("predict", "gpu"),
    conda:
        CONDA_ENV
    script:
        "../scripts/generator_fidelity.py"


rule clones:
    """Target: the synthetic clones (every model trained on generated images) and the shards they learn from."""
    input:
        clone_targets(),

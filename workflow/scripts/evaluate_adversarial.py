from synclone.runtime import log_to_file

log_to_file(snakemake.log[0])

from synclone.tasks import evaluate_adversarial

evaluate_adversarial(
    model_path=snakemake.input.model,
    data_dir=snakemake.params.image_set,
    out_json=snakemake.output[0],
    model=snakemake.params.model,
    params=snakemake.params.config,
    subset_seed=snakemake.params.subset_seed,
    attack_seed=snakemake.params.attack_seed,
    threads=snakemake.threads,
    device=snakemake.params.device,
)

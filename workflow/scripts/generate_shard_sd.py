from synclone.runtime import log_to_file

log_to_file(snakemake.log[0])

from synclone.tasks import generate_shard_sd

generate_shard_sd(
    prompts_csv=snakemake.input.prompts,
    out_dir=snakemake.output[0],
    shard=snakemake.params.shard,
    shards=snakemake.params.shards,
    model=snakemake.params.model,
    sample=snakemake.params.sample,
    threads=snakemake.threads,
    device=snakemake.params.device,
)

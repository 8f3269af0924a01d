from synclone.runtime import log_to_file

log_to_file(snakemake.log[0])

from synclone.tasks import generator_fidelity

generator_fidelity(
    shard_dirs=list(snakemake.input.shards),
    judge_path=snakemake.input.judge,
    out_json=snakemake.output.json,
    grid_png=snakemake.output.grid,
    generator=snakemake.params.generator,
    judge=snakemake.params.judge,
    prompt_set=snakemake.wildcards.prompt_set,
    bootstrap=snakemake.params.bootstrap,
    grid_images=snakemake.params.grid_images,
    threads=snakemake.threads,
    device=snakemake.params.device,
)

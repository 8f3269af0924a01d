from synclone.runtime import log_to_file

log_to_file(snakemake.log[0])

from synclone.tasks import build_prompts

build_prompts(
    out_csv=snakemake.output[0],
    strategy=snakemake.params.strategy,
    images_per_class=snakemake.params.images_per_class,
    seed=snakemake.params.seed,
    world=snakemake.params.world,
    captions_csv=snakemake.input.get("captions"),
)

from synclone.runtime import log_to_file

log_to_file(snakemake.log[0])

from synclone.tasks import render_dataset

render_dataset(
    out_dir=snakemake.output.images,
    grid_png=snakemake.output.grid,
    kind=snakemake.params.kind,
    n=snakemake.params.n,
    world=snakemake.params.world,
    seed=snakemake.params.seed,
    grid_images=snakemake.params.grid_images,
)

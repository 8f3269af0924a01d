from synclone.runtime import log_to_file

log_to_file(snakemake.log[0])

from synclone.tasks import prepare_dataset

prepare_dataset(
    spec=snakemake.params.spec,
    source=snakemake.params.source,
    out_dir=snakemake.output.data,
    grid_png=snakemake.output.grid,
    grid_images=snakemake.params.grid_images,
)

from synclone.runtime import log_to_file

log_to_file(snakemake.log[0])

from synclone.tasks import subset_images

subset_images(
    data_dirs=list(snakemake.input),
    out_dir=snakemake.output[0],
    images_per_class=snakemake.params.images_per_class,
)

from synclone.runtime import log_to_file

log_to_file(snakemake.log[0])

from synclone.tasks import filter_misclassified

filter_misclassified(
    candidates_dir=snakemake.input.candidates,
    reference_path=snakemake.input.reference,
    out_dir=snakemake.output.images,
    grid_png=snakemake.output.grid,
    n=snakemake.params.n,
    seed=snakemake.params.seed,
    grid_images=snakemake.params.grid_images,
    batch_size=snakemake.params.batch_size,
    threads=snakemake.threads,
    device=snakemake.params.device,
)

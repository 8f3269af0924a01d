from synclone.runtime import log_to_file

log_to_file(snakemake.log[0])

from synclone.tasks import predict_corruptions

predict_corruptions(
    model_path=snakemake.input.model,
    data_dir=snakemake.input.data,
    out_paths=dict(zip(snakemake.params.views, snakemake.output)),
    n_images=snakemake.params.n_images,
    subset_seed=snakemake.params.subset_seed,
    corruption_seed=snakemake.params.corruption_seed,
    batch_size=snakemake.params.batch_size,
    threads=snakemake.threads,
    device=snakemake.params.device,
)

from synclone.runtime import log_to_file

log_to_file(snakemake.log[0])

from synclone.tasks import predict

predict(
    model_path=snakemake.input.model,
    data_dirs=snakemake.params.image_sets,
    out_paths=list(snakemake.output),
    batch_size=snakemake.params.batch_size,
    threads=snakemake.threads,
    device=snakemake.params.device,
)

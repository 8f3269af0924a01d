from synclone.runtime import log_to_file

log_to_file(snakemake.log[0])

from synclone.tasks import predict

predict(
    model_path=snakemake.input.model,
    data_dir=snakemake.input.data,
    out_path=snakemake.output[0],
    batch_size=snakemake.params.batch_size,
    threads=snakemake.threads,
    device=snakemake.params.device,
)

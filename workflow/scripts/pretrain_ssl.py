from synclone.runtime import log_to_file

log_to_file(snakemake.log[0])

from synclone.tasks import pretrain_ssl

pretrain_ssl(
    data_dirs=list(snakemake.input),
    out_path=snakemake.output[0],
    arch=snakemake.params.arch,
    arch_kwargs=snakemake.params.arch_kwargs,
    params=snakemake.params.train,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    device=snakemake.params.device,
)

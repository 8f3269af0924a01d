from synclone.runtime import log_to_file

log_to_file(snakemake.log[0])

from synclone.tasks import import_model

import_model(
    manifest_json=snakemake.input[0],
    out_path=snakemake.output[0],
    arch=snakemake.params.arch,
    arch_kwargs=snakemake.params.arch_kwargs,
    zero_shot=snakemake.params.zero_shot,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    device=snakemake.params.device,
)

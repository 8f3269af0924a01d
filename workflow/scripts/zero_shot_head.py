from synclone.runtime import log_to_file

log_to_file(snakemake.log[0])

from synclone.tasks import zero_shot_head

zero_shot_head(
    clip_path=snakemake.input[0],
    out_path=snakemake.output[0],
    zero_shot=snakemake.params.zero_shot,
    threads=snakemake.threads,
    device=snakemake.params.device,
)

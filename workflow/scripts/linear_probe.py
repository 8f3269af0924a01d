from synclone.runtime import log_to_file

log_to_file(snakemake.log[0])

from synclone.tasks import linear_probe

linear_probe(
    pretrained_path=snakemake.input.pretrained,
    data_dir=snakemake.input.data,
    out_path=snakemake.output.model,
    out_json=snakemake.output.record,
    params=snakemake.params.probe,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    device=snakemake.params.device,
)

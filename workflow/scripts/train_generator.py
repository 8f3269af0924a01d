from synclone.runtime import log_to_file

log_to_file(snakemake.log[0])

from synclone.tasks import train_generator

train_generator(
    corpus_dir=snakemake.input.corpus,
    out_path=snakemake.output[0],
    params=snakemake.params.train,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    device=snakemake.params.device,
)

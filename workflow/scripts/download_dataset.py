from synclone.runtime import log_to_file

log_to_file(snakemake.log[0])

from synclone.tasks import download_dataset

download_dataset(spec=snakemake.params.spec, out_path=snakemake.output[0])

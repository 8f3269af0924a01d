from synclone.runtime import log_to_file

log_to_file(snakemake.log[0])

from synclone.tasks import write_ablation_report

write_ablation_report(
    result_paths=list(snakemake.input.results),
    points=snakemake.params.points,
    out_dir=snakemake.params.out_dir,
    expected_outputs=list(snakemake.output),
)

from synclone.runtime import log_to_file

log_to_file(snakemake.log[0])

from synclone.tasks import write_report

write_report(
    result_paths=[*snakemake.input.results, *snakemake.input.fidelity],
    models=snakemake.params.models,
    metrics=snakemake.params.metrics,
    paper_comparison=snakemake.params.paper_comparison,
    out_dir=snakemake.params.out_dir,
    expected_outputs=list(snakemake.output),
)

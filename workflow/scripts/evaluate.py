from synclone.runtime import log_to_file

log_to_file(snakemake.log[0])

from synclone.tasks import evaluate_logit_metric

evaluate_logit_metric(
    prediction_paths=dict(snakemake.input.items()),
    out_json=snakemake.output[0],
    model=snakemake.params.model,
    metric=snakemake.params.metric,
    params=snakemake.params.config,
)

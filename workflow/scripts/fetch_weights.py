from synclone.runtime import log_to_file

log_to_file(snakemake.log[0])

from synclone.tasks import fetch_weights

fetch_weights(
    out_json=snakemake.output[0],
    model=snakemake.wildcards.model,
    arch=snakemake.params.arch,
    weights=snakemake.params.weights,
    # a location, not a parameter: moving the cache must not re-import every model
    cache_dir=snakemake.config["compute"].get("hub_cache"),
)

# The paper's ablations (Table 7) as sweeps (synclone.ablations): `snakemake ablations` trains and scores every
# point with every metric, then writes results/ablations/. The default target leaves them out.

ABLATION_POINTS = ablations.ablation_points(MODELS)
ABLATION_REPORT = [
    f"results/ablations/{name}" for name in registries.ablation_outputs(ABLATION_POINTS)
]


rule ablation_report:
    """The Table 7 analogue and each metric against the sweep's axis."""
    input:
        results=[f"results/{model}/{metric}.json" for model in ABLATION_POINTS for metric in METRICS],
    output:
        ABLATION_REPORT,
    params:
        points=ABLATION_POINTS,
        out_dir=lambda w, output: os.path.dirname(output[0]),  # results/ablations
    log:
        "logs/ablation_report.log",
    threads: job("report", "threads")
    resources:
        mem_mb=job("report", "mem_mb"),
        runtime=job("report", "runtime"),
    conda:
        CONDA_ENV
    script:
        "../scripts/ablation_report.py"


rule ablations:
    """Every ablation point's results and the ablation report."""
    input:
        ABLATION_REPORT,

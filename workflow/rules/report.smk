# Tables and figures from every result JSON (also in `snakemake --report results/report.html`).


rule report:
    input:
        results=result_files(),
        fidelity=fidelity_files(),
    output:
        [
            report(path, category="Tables and figures", caption="../report/results.rst")
            for path in report_files()
        ],
    params:
        models=models_meta(),
        out_dir=lambda w, output: os.path.dirname(output[0]),
        metrics=report_metrics(),
        paper_comparison=PAPER_COMPARISON,
    log:
        "logs/report.log",
    threads: job("report", "threads")
    resources:
        mem_mb=job("report", "mem_mb"),
        runtime=job("report", "runtime"),
    conda:
        CONDA_ENV
    script:
        "../scripts/report.py"

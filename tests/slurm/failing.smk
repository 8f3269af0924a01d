# One job that fails on purpose (tests/test_slurm.py): SLURM must report it, and Snakemake must end with a
# non-zero exit naming the job's logs.


rule fail:
    output:
        "never.txt",
    log:
        "logs/fail.log",
    shell:
        "echo 'failing on purpose' > {log}; exit 3"

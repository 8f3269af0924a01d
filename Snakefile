# synclone-bench: robustness of models trained on synthetic images (Singh et al., CVPRW 2024).
# The default config is the mini world; `--configfile config/paper.yaml` replaces it (not merged into it).
from snakemake.utils import min_version

min_version("9.0")

if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/ablations.smk"


rule all:
    default_target: True
    input:
        final_outputs(),

"""synclone-bench: robustness of models trained on synthetic images, as a Snakemake workflow.

Import submodules directly (``synclone.metrics``, ``synclone.worlds.mini``...). This module stays light so that
the Snakefile and numpy-only rules never pay for importing torch.
"""

__version__ = "0.1.0"

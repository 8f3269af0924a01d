"""Models: the architecture registry (torch-free) and, in submodules, the torch side.

``synclone.models.registry`` is re-exported here because the Snakefile checks config names with it; the
wrapper, builders and checkpoints live in ``synclone.models.classifier`` and import torch. Pretrained paper
models: ``weights`` (where their files come from; torch-free), ``pretrained`` (importing them into our
checkpoints), ``zero_shot`` (CLIP heads), ``paper`` (builders of the non-timm architectures).
"""

from synclone.models.registry import ARCHITECTURES, ArchSpec, Preprocess, UnknownArchError, get_arch

__all__ = ["ARCHITECTURES", "ArchSpec", "Preprocess", "UnknownArchError", "get_arch"]

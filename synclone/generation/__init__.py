"""The mini world's text-to-image generator (the Stable Diffusion analogue).

A bag-of-words text encoder and a diffusers UNet trained together on the captioned corpus, sampled with
classifier-free guidance. The workflow's scripts call ``train_generator``, ``load_generator`` and
``generate_shard``; every hyper-parameter is a field of ``GeneratorParams`` or ``SampleParams``.
"""

from synclone.generation.params import GeneratorParams, SampleParams
from synclone.generation.sample import MiniGenerator, generate_shard, load_generator
from synclone.generation.text import Vocabulary, tokenize
from synclone.generation.train import GeneratorTrainingError, train_generator

__all__ = [
    "GeneratorParams",
    "GeneratorTrainingError",
    "MiniGenerator",
    "SampleParams",
    "Vocabulary",
    "generate_shard",
    "load_generator",
    "tokenize",
    "train_generator",
]

"""The generator's text path: a word vocabulary built from the corpus and a bag-of-words encoder.

A transformer trained from scratch learned colours but not shapes in the trials; a bag of word embeddings gives
each class word its own learned vector, which the UNet can pick up as easily as a class label.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

PAD, UNK, CLS = "<pad>", "<unk>", "<cls>"
SPECIAL_TOKENS = (PAD, UNK, CLS)
PAD_ID, UNK_ID, CLS_ID = range(len(SPECIAL_TOKENS))

_WORD = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lower-case words; punctuation separates words and is dropped ("star, a symbol." -> star a symbol)."""
    return _WORD.findall(text.lower())


class Vocabulary:
    """Word <-> id. Every encoded prompt starts with CLS, so the empty prompt is the bag {CLS}: the embedding
    that condition dropout trains as the unconditional one."""

    def __init__(self, words: Sequence[str]):
        if tuple(words[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS or len(set(words)) != len(words):
            raise ValueError(f"a vocabulary starts with {SPECIAL_TOKENS} and has no duplicates")
        self.words = list(words)
        self.ids = {word: i for i, word in enumerate(self.words)}

    @classmethod
    def from_captions(cls, captions: Iterable[str], min_count: int = 1) -> Vocabulary:
        counts = Counter(word for text in captions for word in tokenize(text))
        return cls([*SPECIAL_TOKENS, *sorted(w for w, n in counts.items() if n >= min_count)])

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Long tensor N x L: CLS, the word ids (unknown words -> UNK), PAD up to the longest text."""
        rows = [[CLS_ID, *(self.ids.get(w, UNK_ID) for w in tokenize(text))] for text in texts]
        length = max((len(r) for r in rows), default=1)
        return torch.tensor([r + [PAD_ID] * (length - len(r)) for r in rows], dtype=torch.long).reshape(-1, length)


class BagOfWordsEncoder(nn.Module):
    """Mean of the word embeddings -> MLP -> one conditioning vector per prompt.

    ``F.embedding_bag`` skips PAD, so a prompt's vector does not depend on how much padding its batch needed.
    (A sum would be no different: the LayerNorm that follows undoes the scale.)
    """

    def __init__(self, vocab_size: int, width: int, out_dim: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, width, padding_idx=PAD_ID)
        self.mlp = nn.Sequential(
            nn.LayerNorm(width), nn.Linear(width, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim)
        )

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        pooled = F.embedding_bag(token_ids, self.embedding.weight, mode="mean", padding_idx=PAD_ID)
        return self.mlp(pooled)

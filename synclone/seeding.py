"""Seeds derived from the config's seed and a name, identical across processes and machines."""

from __future__ import annotations

import hashlib


def derive_seed(base_seed: int, *names: object) -> int:
    """A 31-bit seed from ``base_seed`` and any names (dataset, model, shard...), stable across runs.

    Python's ``hash()`` is salted per process, so a cryptographic hash is used instead.
    """
    text = "/".join([str(int(base_seed)), *map(str, names)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF

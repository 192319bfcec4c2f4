"""Deterministic seeds derived from (base seed, names), independent of process and thread count."""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(base: int, *names: object) -> int:
    """A 63-bit seed from a base seed and any names (ids, image types): stable across runs and machines."""
    key = "/".join([str(base), *map(str, names)]).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little") >> 1


def rng_for(base: int, *names: object) -> np.random.Generator:
    return np.random.default_rng(derive_seed(base, *names))

"""Exact and near duplicates: file digests, flip/rotation-invariant perceptual hashes (imagehash), groups.

Exact duplicates are identical files; near duplicates are images whose 64-bit pHash differs in at most
`max_distance` bits from the pHash of any of the other's 8 flips and quarter turns, so the augmented
copies the Multi-Cancer set made by flipping and rotating land in the group of their source image.
(Comparing against all 8 views is robust; a single "canonical" hash such as the smallest of the 8 is not:
noise decides which view wins and two copies end up far apart.) Near-duplicate groups are the connected
components of that relation (union-find).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image
from tqdm import tqdm

HASH_SIDE = 32  # imagehash.phash resizes to hash_size * highfreq_factor = 32 px before its DCT
DIHEDRAL_OPS = (None, Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.FLIP_TOP_BOTTOM, Image.Transpose.ROTATE_90,
                Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270, Image.Transpose.TRANSPOSE,
                Image.Transpose.TRANSVERSE)


@dataclass(frozen=True)
class FileHash:
    """One file: sha256 of its bytes, the pHashes of its 8 views (views[0] = as stored), or the reason it
    could not be read."""

    sha256: str
    views: tuple[int, ...]
    width: int
    height: int
    error: str = ""

    @property
    def phash(self) -> int:
        return self.views[0] if self.views else 0


def dihedral_phashes(image: Image.Image) -> tuple[int, ...]:
    """64-bit pHash of each of the 8 flips/quarter turns of an image (the image itself first)."""
    small = image.convert("L").resize((HASH_SIDE, HASH_SIDE), Image.Resampling.LANCZOS)
    out = []
    for op in DIHEDRAL_OPS:
        view = small if op is None else small.transpose(op)
        bits = imagehash.phash(view).hash.flatten()
        out.append(int("".join("1" if b else "0" for b in bits), 2))
    return tuple(out)


def view_distance(a: Sequence[int], b: Sequence[int]) -> int:
    """Bits between a's own pHash and the nearest of b's 8 views."""
    return min(bin(int(a[0]) ^ int(v)).count("1") for v in b)


def hash_file(path: str | Path) -> FileHash:
    """Read one image fully (a truncated or corrupt file gives `error`), hash bytes and pixels."""
    path = Path(path)
    try:
        data = path.read_bytes()
        with Image.open(path) as img:
            size = img.size
            img.draft("RGB", (4 * HASH_SIDE, 4 * HASH_SIDE))  # JPEG: decode at reduced scale (still reads it all)
            img.load()
            if min(img.size) < 1:
                raise OSError("empty image")
            views = dihedral_phashes(img)
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        return FileHash("", (), 0, 0, error=" ".join(str(err).split()) or type(err).__name__)
    return FileHash(hashlib.sha256(data).hexdigest(), views, size[0], size[1])


def hash_files(paths: Sequence[str | Path], threads: int = 2, progress: bool = True) -> list[FileHash]:
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        return list(tqdm(pool.map(hash_file, paths), total=len(paths), desc="hashing images", unit="img",
                         disable=not progress or len(paths) < 200))


def hamming_pairs(hashes: np.ndarray, max_distance: int, other: np.ndarray | None = None,
                  chunk: int = 2048) -> np.ndarray:
    """(i, j) index pairs with Hamming distance <= max_distance: within `hashes` (i < j) or, given `other`,
    between hashes[i] and other[j]."""
    a = np.asarray(hashes, dtype=np.uint64)
    b = a if other is None else np.asarray(other, dtype=np.uint64)
    out = []
    for start in range(0, len(a), chunk):
        block = a[start:start + chunk]
        dist = np.bitwise_count(block[:, None] ^ b[None, :])
        i, j = np.nonzero(dist <= max_distance)
        i = i + start
        if other is None:
            keep = j > i
            i, j = i[keep], j[keep]
        out.append(np.stack([i, j], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 2), dtype=np.int64)


def components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected-component id (the smallest member index) per item, given undirected edges."""
    parent = np.arange(n)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for i, j in pairs:
        ri, rj = find(int(i)), find(int(j))
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return np.array([find(i) for i in range(n)])


def view_pairs(plain: np.ndarray, views: np.ndarray, max_distance: int, chunk: int = 256) -> np.ndarray:
    """(i, j) with plain[i] within max_distance bits of any of the 8 views of item j (views: (M, 8));
    i == j pairs are left out when plain and views describe the same items."""
    flat = np.asarray(views, dtype=np.uint64).reshape(-1)
    pairs = hamming_pairs(np.asarray(plain, dtype=np.uint64), max_distance, other=flat, chunk=chunk)
    pairs[:, 1] //= np.asarray(views).shape[1]
    return np.unique(pairs, axis=0) if len(pairs) else pairs


def near_duplicate_groups(ids: Sequence[str], views: Sequence[Sequence[int]], max_distance: int) -> list[str]:
    """Group name per item: the first id (in the given order) of its near-duplicate component."""
    arr = np.array([[int(v) for v in row] for row in views], dtype=np.uint64).reshape(len(ids), -1)
    pairs = view_pairs(arr[:, 0], arr, max_distance) if len(ids) else np.zeros((0, 2), dtype=np.int64)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return [ids[c] for c in components(len(ids), pairs)]


def phash_hex(value: int) -> str:
    return f"{int(value):016x}"


def views_hex(views: Sequence[int]) -> str:
    """The 8 view hashes as one index column (space-separated hex)."""
    return " ".join(phash_hex(v) for v in views)


def parse_views(text: str) -> list[int]:
    return [int(v, 16) for v in str(text).split()]

"""This module contains the MinHash/LSH index of near-duplicate posts, over two kept libraries.

`rensa` (Rust) is the default; `datasketch` (numpy) has the same interface here so
`benchmarks/stories.py` can measure both on the labeled set. A post's signature is the MinHash
of its stem set; the LSH finds the posts in the window whose stem Jaccard is likely above the
index threshold, and `jaccard` estimates it from the two signatures.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

SEED = 20241105  # fixed: the same posts always get the same signatures


class Signatures(Protocol):
    name: str

    def signature(self, tokens: Iterable[str]) -> Any: ...
    def jaccard(self, a: Any, b: Any) -> float: ...
    def insert(self, key: int, sig: Any) -> None: ...
    def remove(self, key: int) -> None: ...
    def query(self, sig: Any) -> list[int]: ...


class _LSH:
    """What both backends do alike once a signature is made: `_lsh` is the library's index."""

    _lsh: Any

    def jaccard(self, a: Any, b: Any) -> float:
        return float(a.jaccard(b))

    def insert(self, key: int, sig: Any) -> None:
        self._lsh.insert(key, sig)

    def remove(self, key: int) -> None:
        self._lsh.remove(key)

    def query(self, sig: Any) -> list[int]:
        return sorted(self._lsh.query(sig))


class RensaIndex(_LSH):
    name = "rensa"

    def __init__(self, num_perm: int = 64, threshold: float = 0.3, bands: int = 32) -> None:
        from rensa import RMinHash, RMinHashLSH

        self._minhash = RMinHash
        self.num_perm = num_perm
        self._lsh = RMinHashLSH(threshold=threshold, num_perm=num_perm, num_bands=bands)

    def signature(self, tokens: Iterable[str]) -> Any:
        sig = self._minhash(num_perm=self.num_perm, seed=SEED)
        sig.update(sorted(tokens))
        return sig


class DatasketchIndex(_LSH):
    name = "datasketch"

    def __init__(self, num_perm: int = 64, threshold: float = 0.3, bands: int = 32) -> None:
        from datasketch import MinHash, MinHashLSH

        self._minhash = MinHash
        self.num_perm = num_perm
        self._lsh = MinHashLSH(num_perm=num_perm, params=(bands, num_perm // bands))
        del threshold  # (bands, rows) fix the curve, as in rensa

    def signature(self, tokens: Iterable[str]) -> Any:
        sig = self._minhash(num_perm=self.num_perm, seed=SEED)
        sig.update_batch([t.encode("utf-8") for t in sorted(tokens)])
        return sig


def make_index(backend: str, num_perm: int, threshold: float, bands: int) -> Signatures:
    if backend == "rensa":
        return RensaIndex(num_perm, threshold, bands)
    if backend == "datasketch":
        return DatasketchIndex(num_perm, threshold, bands)
    raise ValueError(f"unknown MinHash backend {backend!r} (expected rensa or datasketch)")

"""Search spaces of named categorical genes and the canonical [`Architecture`][ttfsnet_nas.space.Architecture]
encoding.

A search space is an ordered set of *genes* (one per searchable block), each with an ordered tuple of
candidate *ops*. An architecture picks one op per gene. Validity constraints (arbitrary callables or
[`CostBound`][ttfsnet_nas.space.CostBound] limits on a cost function such as a parameter count) cut the space
down; every sampler and enumerator in this module yields only valid architectures.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ttfsnet_nas.errors import InputError

__all__ = [
    "Architecture",
    "CostBound",
    "SearchSpace",
    "SpaceError",
    "ENUMERATION_LIMIT",
]

#: Largest space `SearchSpace.enumerate` walks without an explicit ``limit``.
ENUMERATION_LIMIT = 10_000


class SpaceError(InputError):
    """An architecture or space definition does not fit the search space."""


class Architecture(Mapping[str, str]):
    """Frozen, hashable mapping gene name → op name, in the search space's gene order.

    Two architectures are equal when they have the same genes in the same order with the same ops.
    The canonical string form `key` (``"gene=op,gene=op"``) is what journals and caches use.

    Args:
        items: ``(gene, op)`` pairs or a mapping; order is kept as given.
    """

    # _index and _key are computed on first use (unset slots until then): strategies build many
    # architectures only to test them against a cache
    __slots__ = ("_items", "_index", "_key")

    def __init__(self, items: Mapping[str, str] | Sequence[tuple[str, str]]) -> None:
        pairs = tuple(items.items()) if isinstance(items, Mapping) else tuple((g, o) for g, o in items)
        index: dict[str, str] = {}
        for gene, op in pairs:
            if not isinstance(gene, str) or not isinstance(op, str):
                raise SpaceError(f"architecture: gene and op names must be str, got {gene!r}={op!r}")
            if gene in index:
                raise SpaceError(f"architecture: gene {gene!r} given twice")
            index[gene] = op
        object.__setattr__(self, "_items", pairs)
        object.__setattr__(self, "_index", index)

    @classmethod
    def _trusted(cls, pairs: tuple[tuple[str, str], ...]) -> Architecture:
        # fast constructor for pairs already validated by a SearchSpace (hot path of the strategies)
        self = object.__new__(cls)
        object.__setattr__(self, "_items", pairs)
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Architecture is immutable")

    def __getitem__(self, gene: str) -> str:
        try:
            index = self._index
        except AttributeError:
            index = dict(self._items)
            object.__setattr__(self, "_index", index)
        return index[gene]

    def __iter__(self) -> Iterator[str]:
        return (g for g, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Architecture):
            return self._items == other._items
        return NotImplemented

    def __repr__(self) -> str:
        return f"Architecture({self.key!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Architecture, (self._items,))

    @property
    def key(self) -> str:
        """Canonical string ``"gene=op,gene=op"`` in gene order."""
        try:
            return self._key
        except AttributeError:
            key = ",".join(map("=".join, self._items))
            object.__setattr__(self, "_key", key)
            return key

    @classmethod
    def from_key(cls, key: str) -> Architecture:
        """Parse the canonical string produced by `key`."""
        if not key:
            return cls(())
        pairs = []
        for part in key.split(","):
            gene, sep, op = part.partition("=")
            if not sep:
                raise SpaceError(f"architecture key {key!r}: expected 'gene=op' parts, got {part!r}")
            pairs.append((gene, op))
        return cls(pairs)

    def to_dict(self) -> dict[str, str]:
        """Plain ordered dict gene → op (JSON-serialisable)."""
        return dict(self._items)

    def to_json(self) -> str:
        """JSON object string with the genes in order."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, data: str | Mapping[str, str]) -> Architecture:
        """Build from a JSON object string or an already decoded mapping."""
        if isinstance(data, str):
            decoded = json.loads(data)
            if not isinstance(decoded, dict):
                raise SpaceError(f"architecture JSON: expected an object, got {type(decoded).__name__}")
            data = decoded
        return cls(data)


@dataclass(frozen=True, slots=True)
class CostBound:
    """Validity constraint ``low ≤ cost(arch) ≤ high`` (e.g. a parameter budget).

    Args:
        name: Label used in error messages and in the space description (e.g. ``"params"``).
        cost: Function of the architecture; it must be cheap, it runs for every sampled candidate.
        low: Inclusive lower bound, or ``None``.
        high: Inclusive upper bound, or ``None``.
    """

    name: str
    cost: Callable[[Architecture], float]
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if self.low is None and self.high is None:
            raise SpaceError(f"cost bound {self.name!r}: give low, high or both")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise SpaceError(f"cost bound {self.name!r}: low {self.low} > high {self.high}")

    def __call__(self, arch: Architecture) -> bool:
        value = float(self.cost(arch))
        if self.low is not None and value < self.low:
            return False
        return not (self.high is not None and value > self.high)

    @classmethod
    def op_count(
        cls, ops: str | Sequence[str], *, low: int | None = None, high: int | None = None
    ) -> CostBound:
        """Bound on how many genes pick one of ``ops``, e.g. ``CostBound.op_count("skip", high=2)``.

        The bound is named ``count(op|op)`` (sorted), so the space hash does not depend on argument order.
        """
        wanted = frozenset([ops] if isinstance(ops, str) else ops)
        if not wanted:
            raise SpaceError("cost bound op_count: expected at least one op name")

        def count(arch: Architecture) -> float:
            return float(sum(op in wanted for op in arch.values()))

        return cls(f"count({'|'.join(sorted(wanted))})", count, low, high)

    def describe(self) -> str:
        """Stable text form that enters the space hash."""
        return f"{self.low if self.low is not None else '-inf'} <= {self.name} <= " + (
            f"{self.high}" if self.high is not None else "inf"
        )


Constraint = Callable[[Architecture], bool]


class SearchSpace:
    """Ordered categorical genes with optional validity constraints.

    Args:
        genes: Gene name → candidate op names (order matters: it defines the canonical encoding).
        constraints: Callables ``arch -> bool`` (``True`` = valid), e.g.
            [`CostBound`][ttfsnet_nas.space.CostBound] instances.

    Raises:
        SpaceError: On empty genes, empty or duplicate op lists.
    """

    def __init__(self, genes: Mapping[str, Sequence[str]], constraints: Sequence[Constraint] = ()) -> None:
        if not genes:
            raise SpaceError("search space: expected at least one gene")
        clean: dict[str, tuple[str, ...]] = {}
        for gene, ops in genes.items():
            if isinstance(ops, str):
                raise SpaceError(f"search space: gene {gene!r} expected a list of op names, got a string")
            ops_t = tuple(ops)
            if not ops_t:
                raise SpaceError(f"search space: gene {gene!r} has no ops")
            if len(set(ops_t)) != len(ops_t):
                raise SpaceError(f"search space: gene {gene!r} lists an op twice: {list(ops_t)}")
            for op in ops_t:
                if not isinstance(op, str) or not op or "," in op or "=" in op:
                    raise SpaceError(
                        f"search space: gene {gene!r}: op {op!r} must be a non-empty str without ',' '='"
                    )
            if not isinstance(gene, str) or not gene or "," in gene or "=" in gene:
                raise SpaceError(f"search space: gene name {gene!r} must be a non-empty str without ',' '='")
            clean[gene] = ops_t
        self._genes = clean
        self._names = tuple(clean)
        self._ops = tuple(clean.values())
        self._op_index = {g: {op: i for i, op in enumerate(ops)} for g, ops in clean.items()}
        self.constraints: tuple[Constraint, ...] = tuple(constraints)

    # -- structure -------------------------------------------------------------------------------
    @property
    def genes(self) -> dict[str, tuple[str, ...]]:
        """Gene name → op names (a copy)."""
        return dict(self._genes)

    @property
    def gene_names(self) -> tuple[str, ...]:
        """Gene names in canonical order."""
        return self._names

    @property
    def size(self) -> int:
        """Number of architectures ignoring constraints (product of the op counts)."""
        n = 1
        for ops in self._genes.values():
            n *= len(ops)
        return n

    def __repr__(self) -> str:
        return f"SearchSpace({len(self._names)} genes, size={self.size}, constraints={len(self.constraints)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SearchSpace):
            return NotImplemented
        return self._genes == other._genes and list(self._genes) == list(other._genes)

    __hash__ = None  # type: ignore[assignment]  # mutable-looking container; use .hash for identity

    # -- architectures ---------------------------------------------------------------------------
    def architecture(self, choice: Mapping[str, str] | Sequence[int] | str) -> Architecture:
        """Build a canonical architecture from a mapping, an index encoding or a key string.

        Raises:
            SpaceError: When a gene is missing or unknown or an op is not one of the gene's ops.
        """
        if isinstance(choice, str):
            choice = Architecture.from_key(choice)
        if isinstance(choice, Architecture) and self._is_canonical(choice):
            return choice
        if isinstance(choice, Mapping):
            unknown = [g for g in choice if g not in self._genes]
            if unknown:
                raise SpaceError(f"architecture: unknown gene(s) {unknown}; valid genes: {list(self._names)}")
            pairs = []
            for gene in self._names:
                if gene not in choice:
                    raise SpaceError(f"architecture: gene {gene!r} missing")
                op = choice[gene]
                if op not in self._op_index[gene]:
                    raise SpaceError(
                        f"architecture: gene {gene!r}: expected one of {list(self._genes[gene])}, got {op!r}"
                    )
                pairs.append((gene, op))
            return Architecture(pairs)
        return self.decode(choice)

    def _is_canonical(self, arch: Architecture) -> bool:
        items = arch._items
        if len(items) != len(self._names):
            return False
        for (gene, op), name in zip(items, self._names, strict=True):
            if gene != name or op not in self._op_index[name]:
                return False
        return True

    def encode(self, arch: Mapping[str, str]) -> tuple[int, ...]:
        """Op indices in gene order (the canonical integer encoding)."""
        arch = self.architecture(arch)
        return tuple(self._op_index[g][arch[g]] for g in self._names)

    def decode(self, indices: Sequence[int]) -> Architecture:
        """Inverse of `encode`."""
        idx = [int(i) for i in indices]
        if len(idx) != len(self._names):
            raise SpaceError(f"architecture encoding: expected {len(self._names)} indices, got {len(idx)}")
        try:
            if min(idx) < 0:
                raise IndexError
            pairs = tuple([(gene, ops[i]) for gene, ops, i in zip(self._names, self._ops, idx, strict=True)])
        except IndexError:
            gene, i, top = next(
                (g, i, len(ops) - 1)
                for g, ops, i in zip(self._names, self._ops, idx, strict=True)
                if not 0 <= i < len(ops)
            )
            raise SpaceError(f"architecture encoding: gene {gene!r}: index {i} outside [0, {top}]") from None
        return Architecture._trusted(pairs)

    def satisfies(self, arch: Architecture) -> bool:
        """Whether an architecture of this space (from `decode` or `architecture`) meets every
        constraint; `is_valid` also checks that it belongs to the space."""
        return all(c(arch) for c in self.constraints)

    def is_valid(self, arch: Mapping[str, str]) -> bool:
        """Whether ``arch`` belongs to the space and satisfies every constraint."""
        try:
            canon = self.architecture(arch)
        except SpaceError:
            return False
        return self.satisfies(canon)

    def violated(self, arch: Mapping[str, str]) -> list[str]:
        """Names of the constraints ``arch`` violates (for error messages)."""
        canon = self.architecture(arch)
        return [_constraint_name(c) for c in self.constraints if not c(canon)]

    def enumerate(self, *, limit: int | None = ENUMERATION_LIMIT) -> Iterator[Architecture]:
        """Yield every valid architecture in canonical (lexicographic index) order.

        Args:
            limit: Refuse spaces whose unconstrained size exceeds this; ``None`` disables the check.

        Raises:
            SpaceError: When the space is larger than ``limit``.
        """
        if limit is not None and self.size > limit:
            raise SpaceError(
                f"search space has {self.size} architectures, more than the enumeration limit {limit}"
            )
        for idx in itertools.product(*(range(len(ops)) for ops in self._genes.values())):
            arch = self.decode(idx)
            if self.satisfies(arch):
                yield arch

    def sample(self, rng: np.random.Generator, *, max_tries: int = 1000) -> Architecture:
        """Draw a valid architecture uniformly (rejection sampling over the constraints).

        Raises:
            SpaceError: When ``max_tries`` draws are all invalid.
        """
        sizes = [len(ops) for ops in self._genes.values()]
        for _ in range(max_tries):
            idx = [int(rng.integers(n)) for n in sizes]
            arch = self.decode(idx)
            if self.satisfies(arch):
                return arch
        raise SpaceError(
            f"search space: no valid architecture in {max_tries} random draws; constraints too tight?"
        )

    # -- identity --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description: genes and the text of named constraints."""
        return {
            "genes": {g: list(ops) for g, ops in self._genes.items()},
            "constraints": [_constraint_name(c) for c in self.constraints],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], constraints: Sequence[Constraint] = ()) -> SearchSpace:
        """Rebuild the genes from `to_dict` output.

        Constraint callables cannot be serialised; pass them again via ``constraints``.
        """
        genes = data.get("genes")
        if not isinstance(genes, Mapping):
            raise SpaceError("search space dict: expected key 'genes' with a mapping gene -> [ops]")
        return cls(genes, constraints)

    @property
    def hash(self) -> str:
        """sha256 of the canonical JSON of `to_dict` (genes, op order, constraint names)."""
        return self.hash_of(self.to_dict())

    @staticmethod
    def hash_of(description: Mapping[str, Any]) -> str:
        """`hash` of a stored `to_dict` output, also when its constraint callables are gone."""
        canonical = {"genes": description.get("genes"), "constraints": description.get("constraints", [])}
        text = json.dumps(canonical, sort_keys=False, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _constraint_name(c: Constraint) -> str:
    describe = getattr(c, "describe", None)
    if callable(describe):
        return str(describe())
    return str(getattr(c, "__qualname__", type(c).__qualname__))

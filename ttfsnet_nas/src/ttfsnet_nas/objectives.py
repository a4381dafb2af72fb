"""Objective registry: named, directed quantities computed from one evaluation.

An evaluator (e.g. the torch evaluator in [`ttfsnet_nas.torch`][ttfsnet_nas.torch]) runs ONE forward pass per
candidate and returns raw metrics; objectives select or combine them. Objectives that need more than numbers
(the model, logits, labels, ANN statistics) read them from
[`EvalContext.extras`][ttfsnet_nas.objectives.EvalContext.extras].

Third-party objectives come from the entry-point group ``"ttfsnet_nas.objectives"``: each entry point is a
callable returning an iterable of objectives, each either an [`Objective`][ttfsnet_nas.objectives.Objective]
or a plain mapping with the same fields (``name``, ``direction``, ``compute``, and optionally ``description``,
``unit``, ``requires``, ``example``). A plugin that returns mappings needs no import of ``ttfsnet_nas``: its
``compute`` receives an [`EvalContext`][ttfsnet_nas.objectives.EvalContext] (read through its ``metrics``,
``architecture`` and ``extras`` attributes), and its ``example`` may return a plain mapping (see
[`as_context`][ttfsnet_nas.objectives.as_context]) or any object with those three attributes. Plugins are
loaded lazily, the first time a name is not found among the registered objectives (or when
[`list_objectives`][ttfsnet_nas.objectives.list_objectives] is called).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal, cast

from ttfsnet_nas.errors import NASError
from ttfsnet_nas.space import Architecture

__all__ = [
    "ENTRY_POINT_GROUP",
    "EvalContext",
    "Objective",
    "ObjectiveError",
    "PluginError",
    "as_context",
    "get_objective",
    "list_objectives",
    "load_plugins",
    "register_objective",
    "war_uar",
]

ENTRY_POINT_GROUP = "ttfsnet_nas.objectives"

Direction = Literal["max", "min"]


class ObjectiveError(NASError, ValueError):
    """Unknown objective, duplicate registration, or a metric the evaluator did not return."""


class PluginError(NASError, RuntimeError):
    """An entry point of group ``ttfsnet_nas.objectives`` failed to load or returned bad objects."""


@dataclass(frozen=True, kw_only=True, slots=True)
class EvalContext:
    """Everything an objective may look at for one evaluated candidate.

    Attributes:
        metrics: Raw numbers from the evaluator (``"accuracy"``, ``"war"``, ``"params"``, ...).
        architecture: The evaluated architecture, when known.
        extras: Non-numeric results, e.g. ``"model"``, ``"logits"``, ``"labels"``, ``"stats"``.
    """

    metrics: Mapping[str, float]
    architecture: Architecture | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)

    def metric(self, name: str, objective: str) -> float:
        """Return metric ``name`` as float; raise a one-line error naming the objective that needed it."""
        if name not in self.metrics:
            raise ObjectiveError(
                f"objective {objective!r}: evaluator result has no metric {name!r}; "
                f"got {sorted(self.metrics)}"
            )
        return float(self.metrics[name])


def as_context(
    result: EvalContext | Mapping[str, Any], architecture: Architecture | None = None
) -> EvalContext:
    """Wrap an evaluator result (a metrics dict or an [`EvalContext`][ttfsnet_nas.objectives.EvalContext])
    into a context.

    Numeric entries of a plain dict become metrics; everything else goes to ``extras``.
    """
    if isinstance(result, EvalContext):
        if result.architecture is None and architecture is not None:
            return EvalContext(metrics=result.metrics, architecture=architecture, extras=result.extras)
        return result
    if not isinstance(result, Mapping):
        raise ObjectiveError(f"evaluator must return a mapping or EvalContext, got {type(result).__name__}")
    metrics: dict[str, float] = {}
    extras: dict[str, Any] = {}
    for k, v in result.items():
        # numpy scalars register as numbers.Real; bools are flags, not metrics
        if isinstance(v, numbers.Real) and not isinstance(v, bool):
            metrics[k] = float(v)
        else:
            extras[k] = v
    return EvalContext(metrics=metrics, architecture=architecture, extras=extras)


@dataclass(frozen=True, kw_only=True, slots=True)
class Objective:
    """A named quantity to maximise or minimise.

    Attributes:
        name: Registry name, used in recipes (``fitness.weights``, ``constraints``).
        direction: ``"max"`` or ``"min"``.
        compute: ``context -> float``.
        description: One sentence for ``--help`` style listings and docs.
        unit: Optional unit string (``"%"``, ``"ms"``, ...).
        requires: Metric keys the objective reads from
            [`EvalContext.metrics`][ttfsnet_nas.objectives.EvalContext.metrics]; used by contract tests to
            build a sample context and by the evaluator to know what to compute.
        example: Factory of a representative context, for objectives that need more than ``requires``
            (e.g. a model in ``extras``); the contract tests in [`ttfsnet_nas.testing`][ttfsnet_nas.testing]
            use it.
    """

    name: str
    direction: Direction
    compute: Callable[[EvalContext], float]
    description: str = ""
    unit: str = ""
    requires: tuple[str, ...] = ()
    example: Callable[[], EvalContext] | None = None

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ObjectiveError(f"objective name must be a non-empty str, got {self.name!r}")
        if self.direction not in ("max", "min"):
            raise ObjectiveError(
                f"objective {self.name!r}: direction must be 'max' or 'min', got {self.direction!r}"
            )

    def __call__(self, context: EvalContext | Mapping[str, Any]) -> float:
        value = float(self.compute(as_context(context)))
        if math.isnan(value):
            raise ObjectiveError(f"objective {self.name!r} returned NaN")
        return value

    @property
    def sign(self) -> float:
        """+1 for ``max``, -1 for ``min``: multiply to get a maximisation value."""
        return 1.0 if self.direction == "max" else -1.0


_REGISTRY: dict[str, Objective] = {}
_PLUGINS_LOADED = False
_PLUGIN_ERRORS: dict[str, str] = {}


def register_objective(
    name: str | Objective,
    direction: Direction = "max",
    *,
    description: str = "",
    unit: str = "",
    requires: Iterable[str] = (),
    replace: bool = False,
) -> Any:
    """Register an objective; use as a decorator on ``compute`` or pass an
    [`Objective`][ttfsnet_nas.objectives.Objective].

    Examples:
        ``@register_objective("acc5", "max", requires=("acc5",))`` above ``def f(ctx): ...``, or
        ``register_objective(Objective(name=..., direction=..., compute=...))``.

    Raises:
        ObjectiveError: When the name is taken and ``replace`` is false.
    """
    if isinstance(name, Objective):
        _add(name, replace)
        return name

    def decorator(fn: Callable[[EvalContext], float]) -> Callable[[EvalContext], float]:
        doc = description or ((fn.__doc__ or "").strip().splitlines() or [""])[0]
        _add(
            Objective(
                name=name, direction=direction, compute=fn, description=doc, unit=unit,
                requires=tuple(requires),
            ),
            replace,
        )
        return fn

    return decorator


def _add(obj: Objective, replace: bool) -> None:
    if obj.name in _REGISTRY and not replace and _REGISTRY[obj.name] is not obj:
        raise ObjectiveError(f"objective {obj.name!r} is already registered")
    _REGISTRY[obj.name] = obj


def unregister_objective(name: str) -> None:
    """Remove an objective (tests and plugin reloads)."""
    _REGISTRY.pop(name, None)


_SPEC_FIELDS = frozenset({"name", "direction", "compute", "description", "unit", "requires", "example"})


def _context_of(example: Any) -> EvalContext:
    """A plugin example's context: an [`EvalContext`][ttfsnet_nas.objectives.EvalContext], a plain mapping, or
    an object with ``metrics``, ``architecture`` and ``extras`` attributes (plugins need not import this
    package to make one)."""
    if isinstance(example, (EvalContext, Mapping)):
        return as_context(example)
    return EvalContext(
        metrics=dict(getattr(example, "metrics", None) or {}),
        architecture=getattr(example, "architecture", None),
        extras=dict(getattr(example, "extras", None) or {}),
    )


def _objective_from_spec(spec: Mapping[str, Any]) -> Objective:
    """An [`Objective`][ttfsnet_nas.objectives.Objective] from a plugin's plain mapping of its fields."""
    unknown = sorted(set(spec) - _SPEC_FIELDS)
    if unknown:
        valid = sorted(_SPEC_FIELDS)
        raise PluginError(f"objective spec has unknown key {unknown[0]!r}; valid keys: {valid}")
    fields = dict(spec)
    fields["requires"] = tuple(fields.get("requires", ()))
    example = fields.get("example")
    if example is not None:
        fields["example"] = lambda: _context_of(example())
    try:
        return Objective(**fields)
    except TypeError as exc:
        raise PluginError(f"objective spec {spec.get('name')!r}: {exc}") from None


def load_plugins(*, force: bool = False) -> dict[str, str]:
    """Load every entry point of group ``ttfsnet_nas.objectives`` once.

    Returns:
        Entry-point name → error text for plugins that failed (empty when all loaded).
    """
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED and not force:
        return dict(_PLUGIN_ERRORS)
    _PLUGIN_ERRORS.clear()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            factory = ep.load()
            produced = factory() if callable(factory) and not isinstance(factory, Objective) else factory
            objs: list[Any] = (
                [produced] if isinstance(produced, (Objective, Mapping))
                else list(cast(Iterable[Any], produced))
            )
            for obj in objs:
                if isinstance(obj, Mapping):
                    obj = _objective_from_spec(obj)
                if not isinstance(obj, Objective):
                    raise PluginError(
                        f"returned {type(obj).__name__}, expected ttfsnet_nas.objectives.Objective or a "
                        "mapping of its fields"
                    )
                _add(obj, replace=False)
        except Exception as exc:  # a plugin may fail in any way; report it, do not crash unrelated lookups
            _PLUGIN_ERRORS[ep.name] = f"{ep.value}: {type(exc).__name__}: {exc}"
    _PLUGINS_LOADED = True
    return dict(_PLUGIN_ERRORS)


def get_objective(name: str) -> Objective:
    """Look up an objective, loading plugins on the first miss.

    Raises:
        PluginError: The name is unknown and at least one plugin failed to load (the error names it).
        ObjectiveError: The name is unknown.
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    errors = load_plugins()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if errors:
        broken = "; ".join(f"plugin {k!r} ({v})" for k, v in errors.items())
        raise PluginError(f"unknown objective {name!r}; objective plugins failed to load: {broken}")
    raise ObjectiveError(f"unknown objective {name!r}; registered: {sorted(_REGISTRY)}")


def list_objectives() -> list[Objective]:
    """All objectives (built-ins and loaded plugins), sorted by name."""
    load_plugins()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def plugin_errors() -> dict[str, str]:
    """Errors recorded for broken plugins during the last load."""
    return dict(_PLUGIN_ERRORS)


# -- built-ins ------------------------------------------------------------------------------------


def _metric_objective(
    name: str, direction: Direction, description: str, unit: str = "", key: str | None = None
) -> Objective:
    metric = key or name

    def compute(ctx: EvalContext) -> float:
        return ctx.metric(metric, name)

    compute.__qualname__ = f"metric[{metric}]"
    return Objective(
        name=name, direction=direction, compute=compute, description=description, unit=unit,
        requires=(metric,),
    )


#: Weight of WAR in the joint fitness of TNAS-ER Eq. 6 (see `war_uar` and docs/nas.md).
WAR_UAR_ALPHA = 0.5


def war_uar(war: float, uar: float, alpha: float = WAR_UAR_ALPHA) -> float:
    """Joint WAR/UAR fitness, our reading of TNAS-ER Eq. 6: ``alpha·WAR + (1 − alpha)·UAR``.

    The equation body is missing from the paper text we have; the prose says the fitness combines WAR and
    UAR jointly "for a balanced evaluation". We read it as their mean (``alpha = 0.5``), which ranks
    architectures exactly like ``WAR + UAR``.
    """
    return alpha * war + (1.0 - alpha) * uar


def _war_uar(ctx: EvalContext) -> float:
    return war_uar(ctx.metric("war", "war_uar"), ctx.metric("uar", "war_uar"))


for _obj in (
    _metric_objective("accuracy", "max", "Top-1 accuracy on the search split.", "%"),
    _metric_objective("war", "max", "Weighted average recall (= overall accuracy over all samples).", "%"),
    _metric_objective("uar", "max", "Unweighted average recall (mean per-class recall).", "%"),
    _metric_objective("loss", "min", "Mean cross-entropy on the search split."),
    _metric_objective("params", "min", "Number of trainable parameters of the subnet."),
    _metric_objective("macs", "min", "Multiply-accumulates per sample of the ReLU ANN."),
    _metric_objective("spikes", "min", "TTFS spikes per sample (= positive ReLU outputs in the ANN)."),
    _metric_objective("synops", "min", "Synaptic operations per sample (spikes × fan-out)."),
    _metric_objective("spikes_per_neuron", "min", "Mean spikes per neuron and sample (≤ 1 in TTFS)."),
    _metric_objective("depth", "min", "Number of spiking layers (TTFS latency grows with depth)."),
    Objective(
        name="war_uar",
        direction="max",
        compute=_war_uar,
        description="TNAS-ER Eq. 6 joint fitness, read as (WAR + UAR) / 2.",
        unit="%",
        requires=("war", "uar"),
    ),
):
    _add(_obj, replace=False)
del _obj

#: Names of the built-in objectives (everything else came from register_objective calls or plugins).
BUILTIN_OBJECTIVES = frozenset(_REGISTRY)

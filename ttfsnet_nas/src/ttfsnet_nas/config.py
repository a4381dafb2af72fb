"""Frozen dataclasses from YAML, with strict checking and one-line errors that name the YAML path.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True, kw_only=True, slots=True)
... class Search:
...     pool_size: int = param(12, ge=2)
>>> from_dict(Search, {"pool_size": "twelve"}, path="search")
Traceback (most recent call last):
...
ttfsnet_nas.config.RecipeError: search.pool_size: expected int ≥ 2, got "twelve"

Supported field types: ``bool``, ``int``, ``float``, ``str``, `Path`, ``Literal``,
``Optional``/unions, ``tuple[X, ...]``, ``tuple[X, Y]``, ``list[X]``, ``dict[str, X]``, nested dataclasses,
and *tagged* dataclass families: a base class registered with
[`register_config_type`][ttfsnet_nas.config.register_config_type] is selected by the ``type:`` key of its YAML
mapping. Bounds (``ge``, ``gt``, ``le``, ``lt``) come from [`param`][ttfsnet_nas.config.param]. Unknown keys,
wrong types, out-of-range values and failing ``__post_init__`` checks all raise
[`RecipeError`][ttfsnet_nas.config.RecipeError]. A dataclass may list keys of earlier versions in a class
attribute ``RENAMED_KEYS: ClassVar[dict[str, str]]`` (old name → new name); such a key gets the error
``data.split: renamed to data.search_split; use that key instead``. YAML floats such as ``1e6`` or ``1.1e6``
(strings under YAML 1.1) are read as floats.
Received values are not trusted: every ``float`` must be finite (``.inf`` and ``.nan`` are refused), every
``int`` must fit in 64 bits, a YAML mapping may not repeat a key, and a file that is not UTF-8 is refused
with the byte offset of the first bad byte.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, cast

import yaml

from ttfsnet_nas.errors import InputError
from ttfsnet_nas.journal import atomic_write_text

__all__ = [
    "InputError",
    "RecipeError",
    "dump_yaml",
    "from_dict",
    "from_yaml",
    "load_yaml",
    "param",
    "register_config_type",
    "replace_path",
    "tag_of",
    "to_dict",
    "write_yaml",
]

T = TypeVar("T")


class RecipeError(InputError):
    """A recipe (YAML config) is invalid. The message is one line: ``file: yaml.path: what was expected``.

    Attributes:
        key: Dotted YAML path of the offending entry (``""`` for the whole document).
        file: Source file, when known.
    """

    def __init__(self, message: str, *, key: str = "", file: str | os.PathLike[str] | None = None) -> None:
        self.key = key
        self.file = None if file is None else str(file)
        self.detail = message
        prefix = f"{self.file}: " if self.file else ""
        where = f"{key}: " if key else ""
        super().__init__(f"{prefix}{where}{message}")

    def with_file(self, file: str | os.PathLike[str]) -> RecipeError:
        """Same error, attributed to ``file``."""
        return RecipeError(self.detail, key=self.key, file=file)


# -- field metadata -------------------------------------------------------------------------------


def param(
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Callable[[], Any] | Any = dataclasses.MISSING,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    doc: str = "",
    speed_only: bool = False,
) -> Any:
    """``dataclasses.field`` with numeric bounds and a doc string checked by
    [`from_dict`][ttfsnet_nas.config.from_dict].

    ``speed_only`` marks a setting that changes how fast a result comes, never the result (worker counts):
    it is left out of the dataclass ``repr``, which stage fingerprints hash
    ([`Stage`][ttfsnet_nas.stages.Stage]), so changing it neither invalidates a finished stage nor blocks
    a resume.
    """
    meta = {"ge": ge, "gt": gt, "le": le, "lt": lt, "doc": doc}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta, repr=not speed_only)
    return dataclasses.field(default=default, metadata=meta, repr=not speed_only)


# -- tagged families ------------------------------------------------------------------------------

_TAGGED: dict[type, dict[str, type]] = {}
_TAG_OF: dict[type, str] = {}


def register_config_type(base: type, name: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: register a dataclass as the ``type: name`` variant of the family ``base``.

    A field annotated with ``base`` then accepts a mapping whose ``type`` key picks the variant.
    """

    def decorator(cls: type[T]) -> type[T]:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"register_config_type: {cls!r} is not a dataclass")
        family = _TAGGED.setdefault(base, {})
        if name in family and family[name] is not cls:
            raise ValueError(f"config type {name!r} already registered for {base.__name__}")
        family[name] = cls
        _TAG_OF[cls] = name
        return cls

    return decorator


def tag_of(obj_or_cls: Any) -> str | None:
    """The ``type:`` tag of a registered variant (or ``None``)."""
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    return _TAG_OF.get(cls)


# -- YAML -----------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e6`` / ``1.1e-3`` as floats (YAML 1.2 style) and refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # PyYAML keeps the last of two equal keys without a word; a repeated key in a recipe is almost
        # always an edit that did not take effect, so it is an error naming both lines
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # '<<' may legitimately be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                seen = first.get(key)
            except TypeError:  # an unhashable key: the base constructor reports it
                continue
            if seen is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {_show(key)} (first set on line {seen})", key_node.start_mark
                )
            first[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def load_yaml(path: str | os.PathLike[str]) -> Any:
    """Parse a YAML file (safe loader, YAML 1.2 floats, no duplicate keys).

    Raises:
        RecipeError: Missing file, a byte that is not UTF-8 (with its offset), a YAML syntax error or a
            duplicate key (with line and column).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError("file not found", file=path) from None
    except OSError as exc:
        raise RecipeError(f"cannot read ({exc.strerror})", file=path) from None
    except UnicodeDecodeError as exc:
        raise RecipeError(_not_utf8(exc), file=path) from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(f"invalid YAML: {where}{problem}", file=path) from None


def _not_utf8(exc: UnicodeDecodeError) -> str:
    data = bytes(exc.object)
    line = data.count(b"\n", 0, exc.start) + 1
    return f"not UTF-8 text: byte 0x{data[exc.start]:02x} at byte offset {exc.start} (line {line})"


def from_yaml(cls: type[T], path: str | os.PathLike[str]) -> T:
    """Load ``cls`` from a YAML file; errors name the file and YAML path."""
    data = load_yaml(path)
    try:
        return from_dict(cls, {} if data is None else data)
    except RecipeError as exc:
        raise exc.with_file(path) from None


def dump_yaml(obj: Any) -> str:
    """YAML text of a dataclass (via [`to_dict`][ttfsnet_nas.config.to_dict]), keys in field order."""
    return yaml.safe_dump(to_dict(obj), sort_keys=False, allow_unicode=True)


def write_yaml(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write the resolved config atomically (tmp file + ``os.replace``)."""
    return atomic_write_text(path, dump_yaml(obj))


# -- conversion -----------------------------------------------------------------------------------


def _show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is type(None):
        return "null"
    if origin is Literal:
        return "one of " + ", ".join(_show(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {_type_name(args[0])}"
        return f"list of {len(args)} items"
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"mapping of {_type_name(typing.get_args(tp)[1])}"
    if tp in _TAGGED:
        return f"mapping with type: one of {sorted(_TAGGED[tp])}"
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return "mapping or a name" if hasattr(tp, "from_shorthand") else "mapping"
    if tp is Path:
        return "path string"
    return getattr(tp, "__name__", str(tp))


def _bounds_text(meta: Mapping[str, Any]) -> str:
    parts = []
    for key, sym in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
        if meta.get(key) is not None:
            bound = meta[key]
            parts.append(f"{sym} {bound}" if isinstance(bound, int) else f"{sym} {bound:g}")
    return " ".join(parts)


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class _Mismatch(Exception):
    """Internal: value does not fit the type (converted to RecipeError by the caller)."""


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if tp is type(None):
        if value is None:
            return None
        raise _Mismatch
    if origin is Literal:
        for allowed in typing.get_args(tp):
            # type check too, so True does not match Literal[1]
            if type(value) is type(allowed) and value == allowed:
                return allowed
        raise _Mismatch
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, path)
            except _Mismatch:
                continue
        raise _Mismatch
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an int beyond the float range
                number = math.inf
            if not math.isfinite(number):
                # inf / nan would pass every bound check below and only fail stages later
                raise RecipeError(f"expected a finite number, got {_show(value)}", key=path)
            return number
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if tp is Path:
        if isinstance(value, str | Path):
            return Path(value)
        raise _Mismatch
    if origin is tuple or origin is list:
        if not isinstance(value, list | tuple):
            raise _Mismatch
        args = typing.get_args(tp)
        if origin is list or (len(args) == 2 and args[1] is Ellipsis):
            items = [_check(args[0], v, _join(path, i)) for i, v in enumerate(value)]
        else:
            if len(value) != len(args):
                raise _Mismatch
            items = [_check(a, v, _join(path, i)) for i, (a, v) in enumerate(zip(args, value, strict=True))]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _Mismatch
        ktp, vtp = typing.get_args(tp)
        return {
            _check(ktp, k, _join(path, str(k))): _check(vtp, v, _join(path, str(k)))
            for k, v in value.items()
        }
    if isinstance(tp, type) and (tp in _TAGGED or dataclasses.is_dataclass(tp)):
        shorthand = getattr(tp, "from_shorthand", None)
        if isinstance(value, str) and shorthand is not None:
            # a dataclass may accept one string for its most common form (``fitness: war_uar``)
            try:
                return shorthand(value)
            except ValueError as exc:
                raise RecipeError(str(exc), key=path) from None
        if not isinstance(value, Mapping):
            raise _Mismatch
        return from_dict(tp, value, path=path)
    raise RecipeError(f"unsupported field type {tp!r}", key=path)


def _check(tp: Any, value: Any, path: str, meta: Mapping[str, Any] | None = None) -> Any:
    meta = meta or {}
    bounds = _bounds_text(meta)
    expected = _type_name(tp) + (f" {bounds}" if bounds else "")
    try:
        out = _convert(tp, value, path)
    except _Mismatch:
        raise RecipeError(f"expected {expected}, got {_show(value)}", key=path) from None
    if bounds and isinstance(out, int | float) and not isinstance(out, bool):
        ok = (
            (meta.get("ge") is None or out >= meta["ge"])
            and (meta.get("gt") is None or out > meta["gt"])
            and (meta.get("le") is None or out <= meta["le"])
            and (meta.get("lt") is None or out < meta["lt"])
        )
        if not ok:
            raise RecipeError(f"expected {expected}, got {_show(value)}", key=path)
    if isinstance(out, int) and not isinstance(out, bool) and not _INT64_MIN <= out <= _INT64_MAX:
        # torch, numpy and JSON readers stop at 64 bits: a larger int is a typo, or an attack
        raise RecipeError(f"expected an int that fits in 64 bits, got {out}", key=path)
    return out


def from_dict(cls: type[T], data: Mapping[str, Any], *, path: str = "") -> T:
    """Build dataclass ``cls`` from plain data, checking keys, types and bounds recursively.

    Args:
        cls: A dataclass, or a family base registered with
            [`register_config_type`][ttfsnet_nas.config.register_config_type].
        data: Mapping from YAML.
        path: YAML path of ``data`` (for error messages).

    Raises:
        RecipeError: One line naming the YAML path and what was expected.
    """
    if not isinstance(data, Mapping):
        raise RecipeError(f"expected a mapping, got {_show(data)}", key=path)
    data = dict(data)
    if cls in _TAGGED:
        family = _TAGGED[cls]
        tag = data.pop("type", None)
        if tag is None:
            raise RecipeError(f"missing key 'type'; expected one of {sorted(family)}", key=path)
        if tag not in family:
            raise RecipeError(f"expected one of {sorted(family)}, got {_show(tag)}", key=_join(path, "type"))
        cls = family[tag]
    elif cls in _TAG_OF:
        tag = data.pop("type", _TAG_OF[cls])
        if tag != _TAG_OF[cls]:
            raise RecipeError(f"expected {_show(_TAG_OF[cls])}, got {_show(tag)}", key=_join(path, "type"))
    if not dataclasses.is_dataclass(cls):
        raise RecipeError(f"{cls!r} is not a dataclass", key=path)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    renamed: Mapping[str, str] = getattr(cls, "RENAMED_KEYS", {})
    for key in unknown:
        if key in renamed:
            raise RecipeError(
                f"renamed to {_join(path, renamed[key])}; use that key instead", key=_join(path, str(key))
            )
    if unknown:
        raise RecipeError(
            f"unknown key {_show(unknown[0])}; valid keys: {', '.join(fields)}",
            key=_join(path, str(unknown[0])),
        )
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _check(hints[name], data[name], _join(path, name), f.metadata)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RecipeError(f"missing required key {name!r}", key=path)
    try:
        return cls(**kwargs)
    except RecipeError:
        raise
    except (ValueError, TypeError) as exc:
        # convention: a __post_init__ message "field: what" (or "field[i]: what") is attributed to that
        # field's YAML path
        text = str(exc)
        head, sep, tail = text.partition(": ")
        name = head.split("[", 1)[0]
        if sep and name in fields:
            raise RecipeError(tail, key=_join(path, name) + head[len(name) :]) from None
        raise RecipeError(text, key=path) from None


def to_dict(obj: Any) -> Any:
    """Plain YAML/JSON data from a dataclass tree (tagged variants get their ``type`` key first)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        tag = _TAG_OF.get(type(obj))
        if tag is not None:
            out["type"] = tag
        for f in dataclasses.fields(obj):
            out[f.name] = to_dict(getattr(obj, f.name))
        return out
    if isinstance(obj, Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def replace_path(obj: T, dotted: str, value: Any) -> T:
    """Copy of a dataclass tree with the field at ``dotted`` (``"search.seed"``) replaced and re-checked.

    Raises:
        RecipeError: Unknown path or a value that does not fit the field.
    """
    return _replace(obj, dotted.split("."), value, "")


def _replace(obj: Any, parts: list[str], value: Any, prefix: str) -> Any:
    head, rest = parts[0], parts[1:]
    here = _join(prefix, head)
    if not dataclasses.is_dataclass(obj) or head not in {f.name for f in dataclasses.fields(obj)}:
        raise RecipeError(f"no such recipe key {head!r}", key=here)
    if rest:
        new = _replace(getattr(obj, head), rest, value, here)
    else:
        f = next(f for f in dataclasses.fields(obj) if f.name == head)
        new = _check(typing.get_type_hints(type(obj))[head], value, here, f.metadata)
    try:
        return dataclasses.replace(cast(Any, obj), **{head: new})
    except (ValueError, TypeError) as exc:
        raise RecipeError(str(exc), key=here) from None

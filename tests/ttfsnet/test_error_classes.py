"""Every error ttfsnet raises on purpose is a ``ttfsnet.TTFSError`` that is also the builtin it refines."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
import typing
from pathlib import Path
from types import ModuleType

import pytest
import torch

import ttfsnet
from ttfsnet import errors

# Raised for internal invariants and unimplemented interface methods, never for a caller's mistake.
_NOT_CALLER_ERRORS = (AssertionError, NotImplementedError)


def _modules() -> list[ModuleType]:
    names = [info.name for info in pkgutil.walk_packages(ttfsnet.__path__, prefix="ttfsnet.")]
    return [ttfsnet] + [importlib.import_module(name) for name in sorted(names)]


MODULES = _modules()


def _raised_classes(module: ModuleType) -> list[tuple[int, str, type[BaseException]]]:
    """``(line, source, class)`` of every ``raise C(...)``/``raise C``/``raise f(...)`` whose ``C`` (or the
    return annotation of ``f``) resolves in the module to an exception class."""
    source = Path(inspect.getfile(module)).read_text(encoding="utf-8")
    namespace = {**vars(builtins), **vars(module)}
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if not isinstance(target, ast.Name) or target.id not in namespace:
            continue  # a re-raised local (``raise exc``) or an attribute
        obj = namespace[target.id]
        if inspect.isfunction(obj):
            obj = typing.get_type_hints(obj).get("return")
        if isinstance(obj, type) and issubclass(obj, BaseException):
            found.append((node.lineno, ast.get_source_segment(source, node) or "", obj))
    return found


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_exception_class_derives_from_ttfs_error(module: ModuleType) -> None:
    defined = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, BaseException) and obj.__module__ == module.__name__
    ]
    assert all(issubclass(cls, errors.TTFSError) for cls in defined), defined


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_raise_is_a_ttfs_error(module: ModuleType) -> None:
    wrong = [
        f"{module.__name__}:{line}: {text.splitlines()[0]}"
        for line, text, cls in _raised_classes(module)
        if not issubclass(cls, errors.TTFSError) and not issubclass(cls, _NOT_CALLER_ERRORS)
    ]
    assert not wrong, "raise a ttfsnet.errors class instead:\n" + "\n".join(wrong)


def test_the_scan_sees_raises() -> None:
    # guard against the AST scan silently matching nothing
    raised = {cls for module in MODULES for _, _, cls in _raised_classes(module)}
    assert {errors.TTFSValueError, errors.FormatError, errors.TTFSTypeError} <= raised


def test_error_classes_are_exported_and_refine_a_builtin() -> None:
    classes = [getattr(errors, name) for name in errors.__all__]
    for cls in classes:
        assert getattr(ttfsnet, cls.__name__) is cls
        assert issubclass(cls, errors.TTFSError)
        if cls is not errors.TTFSError:
            builtin_bases = [b for b in cls.__mro__ if b.__module__ == "builtins" and b not in (object,)]
            assert any(b is not Exception and b is not BaseException for b in builtin_bases), cls
    assert issubclass(errors.FormatError, ValueError)


def test_value_errors_are_still_value_errors() -> None:
    with pytest.raises(ttfsnet.TTFSValueError) as info:
        ttfsnet.TTFSLinear(2, 2, window=-1.0)
    assert isinstance(info.value, ValueError)


def test_type_error_of_the_step_neuron() -> None:
    neuron = ttfsnet.TTFSNeuron(phase1_steps=1, phase2_steps=1, init_hidden=True)
    cur = torch.zeros(1, 2)
    with pytest.raises(ttfsnet.TTFSTypeError) as info:
        neuron(cur, ttfsnet.TTFSNeuronState(cur, cur, 0))
    assert isinstance(info.value, TypeError)


def test_diverging_loss_is_a_floating_point_error() -> None:
    head = ttfsnet.TTFSLinear(2, 2, readout=True, dtype=torch.float64)
    net = ttfsnet.TTFSNetwork([head])
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x = torch.rand(3, 2, dtype=torch.float64)

    def nan_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return logits.sum() * float("nan")

    with pytest.raises(ttfsnet.TTFSFloatingPointError) as info:
        ttfsnet.train_step(net, x, torch.zeros(3, dtype=torch.long), opt, loss_fn=nan_loss)
    assert isinstance(info.value, FloatingPointError)


def test_one_except_clause_catches_them_all() -> None:
    for call in (
        lambda: ttfsnet.TTFSNetwork([]),
        lambda: ttfsnet.load("/nonexistent/net.pt"),
        lambda: ttfsnet.functional.check_input_times(torch.tensor([2.0]), where="t"),
    ):
        with pytest.raises(ttfsnet.TTFSError):
            call()

"""``ttfsnet.exact_float32``: TF32 off inside the block, the previous settings back after it, and
``convert`` running inside it.

The flags are process-wide settings that also exist on a CPU-only torch, so all of this runs without a GPU.
Cases that set torch's newer ``fp32_precision`` API run in a subprocess: once set, torch refuses to read the
legacy flags for the rest of the process.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator

import pytest
import torch
from ttfsnet_testutils import small_cnn

import ttfsnet

# ``ttfsnet.convert`` is the function; the module of the same name holds what it calls
convert_module = importlib.import_module("ttfsnet.convert")


def _flags() -> tuple[bool, bool]:
    return bool(torch.backends.cuda.matmul.allow_tf32), bool(torch.backends.cudnn.allow_tf32)


@pytest.fixture
def restore_flags() -> Iterator[None]:
    before = _flags()
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


@pytest.mark.parametrize("start", [(True, True), (False, True), (True, False), (False, False)])
def test_tf32_is_off_inside_and_restored_after(restore_flags: None, start: tuple[bool, bool]) -> None:
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = start
    with ttfsnet.exact_float32():
        assert _flags() == (False, False)
    assert _flags() == start


def test_settings_are_restored_after_an_exception(restore_flags: None) -> None:
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    with pytest.raises(KeyError, match="inside"), ttfsnet.exact_float32():
        assert _flags() == (False, False)
        raise KeyError("inside")
    assert _flags() == (True, True)


def test_blocks_nest(restore_flags: None) -> None:
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    with ttfsnet.exact_float32():
        with ttfsnet.exact_float32():
            assert _flags() == (False, False)
        assert _flags() == (False, False)
    assert _flags() == (True, True)


def test_convert_runs_with_tf32_off(restore_flags: None, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    seen: list[tuple[bool, bool]] = []
    fuse, peaks = convert_module.fuse, convert_module._calibration_peaks  # pyright: ignore[reportPrivateUsage]

    def spy_fuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(_flags())
        return fuse(*args, **kwargs)

    def spy_peaks(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(_flags())
        return peaks(*args, **kwargs)

    monkeypatch.setattr(convert_module, "fuse", spy_fuse)
    monkeypatch.setattr(convert_module, "_calibration_peaks", spy_peaks)
    ttfsnet.convert(small_cnn(), torch.rand(4, 2, 8, 8, dtype=torch.float64))
    assert seen == [(False, False), (False, False)]
    assert _flags() == (True, True)


def test_convert_restores_the_flags_when_it_refuses(restore_flags: None) -> None:
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    with pytest.raises(ttfsnet.TTFSValueError, match="outside the declared input_range"):
        ttfsnet.convert(small_cnn(), torch.full((4, 2, 8, 8), 5.0, dtype=torch.float64))
    assert _flags() == (True, True)


_NEW_API = r"""
import sys
import torch
import ttfsnet
leaves = [torch.backends.cuda.matmul, torch.backends.cudnn.conv, torch.backends.cudnn.rnn]
if not all(hasattr(leaf, "fp32_precision") for leaf in leaves):
    print("no new API"); sys.exit(0)
exec(sys.argv[1])
before = [leaf.fp32_precision for leaf in leaves]
with ttfsnet.exact_float32():
    inside = [leaf.fp32_precision for leaf in leaves]
    # what cuBLAS itself reads on a GPU: no error, and TF32 off
    assert torch._C._get_cublas_allow_tf32() is False
after = [leaf.fp32_precision for leaf in leaves]
assert after == before, (before, after)
assert inside[0] == "ieee", inside
assert all(p in ("ieee", "none") for p in inside[1:]), inside
print("ok")
"""


@pytest.mark.parametrize(
    "setup",
    [
        "torch.backends.fp32_precision = 'tf32'",
        "torch.backends.cuda.matmul.fp32_precision = 'tf32'",
        "torch.backends.cudnn.conv.fp32_precision = 'tf32'; torch.backends.cudnn.rnn.fp32_precision = 'ieee'",
        "torch.set_float32_matmul_precision('high')",
    ],
)
def test_the_newer_precision_api_is_switched_and_restored(setup: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _NEW_API, setup], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() in ("ok", "no new API")

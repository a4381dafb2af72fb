"""On-disk frame cache of [`EventEmotionDataset`][ttfsnet_nas.emotion.dataset.EventEmotionDataset]: decoded,
mapped and resized event frames as one memory-mapped ``uint8`` ``.npy`` file per sequence set and setting.

A cache is two files in a cache folder
([`default_cache_dir`][ttfsnet_nas.emotion.frame_cache.default_cache_dir]):

* ``frames-<size>px-<grey|onoff>-<resample>[-<window>ms][-tonic]-<hash>.npy``: every kept frame, ``(N, P,
  size, size)``, rows in sequence order. The hash names the settings and the sequence names, so the train and
  test sets and each image size or channel setting have their own file. Raw event recordings cut at another
  frame window than 33 ms (``data.frame_window_ms``, or the index's ``window_ms``) carry the window in the
  name and the hash, so the caches of two windows never replace each other; recordings framed by tonic
  (``data.event_framing: tonic``) carry ``-tonic`` likewise, so the two framings never share a cache.
* a JSON sidecar with the same stem: a fingerprint of the settings and of every frame file's name, size and
  modification time, the sequences kept and the frames skipped (``strict=False``).

The ``.npy`` is written to a temporary file and moved into place with ``os.replace``; the old sidecar is
removed before and the new one written after, so a crash leaves no sidecar (the next run rebuilds) and never
an old sidecar next to new frames. Two processes building the same cache at once write identical bytes.
A run that finds a sidecar with its fingerprint opens the frames with ``numpy.load(mmap_mode="r")`` and
decodes nothing: the operating system's page cache holds the frames once for every process that reads them.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ttfsnet_nas.emotion.events import DEFAULT_WINDOW_US
from ttfsnet_nas.emotion.see import SequenceInfo
from ttfsnet_nas.journal import atomic_write_text

__all__ = ["CACHE_FORMAT", "FRAME_CACHE_DIR", "cache_files", "default_cache_dir", "open_cache", "write_cache"]

#: Folder name of the frame cache inside a dataset root.
FRAME_CACHE_DIR = ".frame-cache"
#: Version of the cache files; a change rebuilds every cache.
CACHE_FORMAT = 1


def default_cache_dir(root: str | os.PathLike[str]) -> Path:
    """Where the frame cache of the dataset at ``root`` lives: ``<root>/.frame-cache`` when ``root`` is
    writable, else ``$XDG_CACHE_HOME/ttfsnet_nas/frame-cache/<hash of root>`` (``~/.cache`` by default),
    for read-only copies of a real dataset."""
    base = Path(root).resolve()
    if os.access(base, os.W_OK):
        return base / FRAME_CACHE_DIR
    user = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return user / "ttfsnet_nas" / "frame-cache" / hashlib.sha256(str(base).encode()).hexdigest()[:16]


def cache_files(
    folder: Path, sequences: Sequence[SequenceInfo], settings: Mapping[str, Any]
) -> tuple[Path, Path, str]:
    """The ``.npy`` file, its sidecar and the fingerprint of the cache of ``sequences`` under ``settings``.

    Args:
        folder: the cache folder.
        sequences: the sequences, in dataset order.
        settings: every setting the cached values depend on; ``size``, ``polarity_split`` and ``resample``
            also go into the file name, and so does the frame window of recordings not cut at 33 ms and
            the framing of recordings not framed by our numpy code.
    """
    key: list[Any] = [CACHE_FORMAT, dict(settings), [s.name for s in sequences]]
    # Another window gives other frames of the same sequences: its own file, not a rebuild over the other's.
    # 33 ms frames keep the name they had before the window was a setting.
    windows = sorted(
        {s.recording.window_us for s in sequences if s.recording is not None} - {DEFAULT_WINDOW_US}
    )
    if windows:
        key.append({"window_us": windows})
    # Each framing has its own cache, so frames of one are never served as the other's. Frames of our own
    # code keep the name they had before the framing was a setting.
    framings = sorted({s.recording.framing for s in sequences if s.recording is not None} - {"numpy"})
    if framings:
        key.append({"framing": framings})
    head = json.dumps(key, sort_keys=True).encode()
    digest = hashlib.sha256(head)
    for seq in sequences:
        if seq.recording is not None:  # frames cut from one recording: its file and the cut decide them
            rec = seq.recording
            try:
                st = os.stat(rec.path)
                state = f"{st.st_size}:{st.st_mtime_ns}"
            except OSError:
                state = "missing"
            digest.update(
                f"{seq.name}@{rec.path.name}:{state}:{rec.sensor_size}:{rec.window_us}:{rec.start_us}:"
                f"{rec.frames}{'' if rec.framing == 'numpy' else ':' + rec.framing}\n".encode()
            )
            continue
        for name in seq.event_files:
            try:
                st = os.stat(seq.event_dir / name)
                digest.update(f"{seq.name}/{name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
            except OSError:
                digest.update(f"{seq.name}/{name}:missing\n".encode())
    planes = "onoff" if settings["polarity_split"] else "grey"
    name_hash = hashlib.sha256(head).hexdigest()[:16]
    window = "".join(f"-{w / 1000:g}ms" for w in windows) + "".join(f"-{f}" for f in framings)
    stem = f"frames-{settings['size']}px-{planes}-{settings['resample']}{window}-{name_hash}"
    return folder / f"{stem}.npy", folder / f"{stem}.json", digest.hexdigest()


def open_cache(
    path: Path, meta_path: Path, fingerprint: str, frame_shape: tuple[int, ...]
) -> tuple[np.ndarray, dict[str, Any]] | None:
    """The memory-mapped frames and the sidecar of the cache for ``fingerprint``; ``None`` when it is
    missing, stale or unreadable (the caller then rebuilds it)."""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != CACHE_FORMAT or meta.get("fingerprint") != fingerprint:
            return None
        frames = np.asarray(np.load(path, mmap_mode="r"))
    except (OSError, ValueError):
        return None
    if frames.dtype != np.uint8 or frames.shape != (meta.get("frames"), *frame_shape):
        return None
    return frames, meta


def write_cache(
    path: Path,
    meta_path: Path,
    fingerprint: str,
    shape: tuple[int, ...],
    fill: Callable[[np.ndarray], tuple[int, dict[str, Any]]],
) -> None:
    """Build a cache: ``fill(out)`` writes rows into a ``uint8`` memory map of ``shape`` (an upper bound)
    and returns the rows it used and what else the sidecar should hold.

    Raises:
        Whatever ``fill`` raises; no file is left behind then.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    exact = tmp.with_name(tmp.name + ".exact")
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        used, extra = fill(out)
        if used < shape[0]:  # frames were skipped: keep only the rows written
            trimmed = np.lib.format.open_memmap(exact, mode="w+", dtype=np.uint8, shape=(used, *shape[1:]))
            trimmed[:] = out[:used]
            trimmed.flush()
            del trimmed
            os.replace(exact, tmp)
        else:
            out.flush()
        del out
        meta_path.unlink(missing_ok=True)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        exact.unlink(missing_ok=True)
        raise
    meta = {"format": CACHE_FORMAT, "fingerprint": fingerprint, "frames": used, **extra}
    atomic_write_text(meta_path, json.dumps(meta))

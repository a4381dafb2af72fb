"""``events``: raw event recordings (tonic-style ``x, y, t, p`` arrays in ``.npy`` / ``.npz``, or ``.aedat4``
through the optional ``aedat`` package) under ``events/``, with labels and the split in ``events.json`` or
``events.csv``. The recordings are cut into 33 ms frames (the index's ``window_ms``, or a recipe's
``data.frame_window_ms``); the format is described in `ttfsnet_nas.emotion.events`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ttfsnet_nas.emotion.layouts import DatasetLayout, register_layout

if TYPE_CHECKING:
    from ttfsnet_nas.emotion.see import SEEIndex

__all__ = ["EVENTS_LAYOUT"]


def _index(root: Path, layout: DatasetLayout, strict: bool) -> SEEIndex:
    # Imported when used: the reader imports the SEE loader, which imports this registry.
    from ttfsnet_nas.emotion.events import load_event_index

    return load_event_index(root, layout.json_names, strict=strict)


EVENTS_LAYOUT = register_layout(
    "events",
    DatasetLayout(
        event_dirs=("events",),
        frame_dirs=(),
        json_names=("events.json", "events.csv"),
        indexer=_index,
        raw_events=True,
    ),
)

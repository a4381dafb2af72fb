"""Registry of dataset layouts: how a SEE-style release names its folders, split JSON and sequences.

A layout ([`DatasetLayout`][ttfsnet_nas.emotion.layouts.DatasetLayout]) is data only; the loader
([`ttfsnet_nas.emotion.see.load_see`][ttfsnet_nas.emotion.see.load_see]) reads any of them, or hands the
folder to the layout's ``indexer`` when its sequences are not folders of frame images (``events``: raw event
recordings). Recipes and the CLI name a layout (``data.layout: dsee``, ``data info --layout dsee``). Built-in
layouts live one per file in this package (``see.py``, ``dsee.py``, ``events.py``); a new release format is
one new file that calls [`register_layout`][ttfsnet_nas.emotion.layouts.register_layout], plus its import at
the end of this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ttfsnet_nas.emotion.names import NameSchema
from ttfsnet_nas.errors import InputError

if TYPE_CHECKING:  # annotations only: see.py imports this module
    from ttfsnet_nas.emotion.see import SEEIndex

__all__ = ["DatasetLayout", "get_layout", "layout_names", "register_layout"]


@dataclass(frozen=True, kw_only=True, slots=True)
class DatasetLayout:
    """Folder and file names of a SEE-style release; the first existing alternative wins.

    Attributes:
        event_dirs: candidate names of the event-frame tree.
        frame_dirs: candidate names of the intensity-frame tree (optional on disk unless ``require_frames``).
        json_names: candidate names of the split/label JSON.
        schema: sequence-name token schema.
        require_frames: fail when the intensity tree or a sequence's intensity folder is missing.
        image_suffixes: accepted frame file suffixes (lower case).
        indexer: ``indexer(root, layout, strict)`` builds the index of a layout whose sequences are not
            folders of frame images; ``None``: the SEE folder reader.
        raw_events: the sequences are raw event recordings; a synthetic set for this layout is generated
            with its event streams (``data synth --events``) into its own folder.
    """

    event_dirs: tuple[str, ...] = ("event", "event_30")
    frame_dirs: tuple[str, ...] = ("frame",)
    json_names: tuple[str, ...] = ("emotion.json", "emotion_new_adjust2.json")
    schema: NameSchema = field(default_factory=NameSchema)
    require_frames: bool = False
    image_suffixes: tuple[str, ...] = (".jpg", ".jpeg", ".png")
    indexer: Callable[[Path, DatasetLayout, bool], SEEIndex] | None = None
    raw_events: bool = False

    def __post_init__(self) -> None:
        if not self.event_dirs or not self.json_names:
            raise ValueError("DatasetLayout: event_dirs and json_names need at least one name each")


_LAYOUTS: dict[str, DatasetLayout] = {}


def register_layout(name: str, layout: DatasetLayout) -> DatasetLayout:
    """Register ``layout`` under ``name`` (the recipe's ``data.layout`` value); returns it.

    Raises:
        ValueError: ``name`` is empty or already taken by another layout.
    """
    if not name or _LAYOUTS.get(name, layout) is not layout:
        raise ValueError(f"register_layout: layout name {name!r} is empty or already registered")
    _LAYOUTS[name] = layout
    return layout


def layout_names() -> list[str]:
    """Registered layout names, sorted."""
    return sorted(_LAYOUTS)


def get_layout(name: str) -> DatasetLayout:
    """The layout registered as ``name``.

    Raises:
        InputError: an unknown name (the message lists the registered ones).
    """
    if name not in _LAYOUTS:
        raise InputError(f"unknown dataset layout {name!r}; registered layouts: {layout_names()}")
    return _LAYOUTS[name]


# The built-in layouts register themselves on import; a new layout file is one more line here.
from ttfsnet_nas.emotion.layouts import dsee as dsee  # noqa: E402
from ttfsnet_nas.emotion.layouts import events as events  # noqa: E402
from ttfsnet_nas.emotion.layouts import see as see  # noqa: E402

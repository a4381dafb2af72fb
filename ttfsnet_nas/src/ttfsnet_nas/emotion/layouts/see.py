"""``see``: the SEE release (Zhang et al., "Eye-based emotion recognition with event cameras" / SEEN):
``event/`` (or ``event_30/``) frame folders per emotion, ``emotion.json`` with the split, and sequence names
of nine tokens (``1_001_man_24_Master_normal_angry_45_take000``)."""

from __future__ import annotations

from ttfsnet_nas.emotion.layouts import DatasetLayout, register_layout

__all__ = ["SEE_LAYOUT"]

SEE_LAYOUT = register_layout("see", DatasetLayout())

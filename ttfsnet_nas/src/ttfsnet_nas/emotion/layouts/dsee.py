"""``dsee``: DSEE releases follow the SEE convention, but sequences converted with v2e may lack the
subject and lighting tokens, so names with fewer than 9 tokens, or with unrecognised tokens, are accepted
and their subject and lighting are ``None`` (the emotion then comes from the JSON label)."""

from __future__ import annotations

from ttfsnet_nas.emotion.layouts import DatasetLayout, register_layout
from ttfsnet_nas.emotion.names import NameSchema

__all__ = ["DSEE_LAYOUT"]

DSEE_LAYOUT = register_layout(
    "dsee",
    DatasetLayout(
        event_dirs=("event", "event_30", "events"),
        frame_dirs=("frame", "frames"),
        json_names=("emotion.json", "dsee.json", "emotion_new_adjust2.json"),
        schema=NameSchema(lenient=True),
    ),
)

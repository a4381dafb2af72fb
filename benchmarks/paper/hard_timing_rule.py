"""Is the timing cue of the synthetic ``hard`` set in the data? A hand-written rule, no learning.

For each pair emotion (docs/synthetic-benchmark.md), the rule takes one random E4-S3 window (frames s, s+4,
s+8, s+12) of the 64×64 event frames. It counts the active pixels (|value − 128| > 64) in a fixed box per unit
(brow: rows 2–21, columns 12–55; cheek: rows 38–59, columns 20–59; nasal fold: rows 28–61, columns 0–17). It
says "in phase" when the 4-frame counts of the pair's two boxes correlate positively, "antiphase" otherwise.
The printed figure is the balanced accuracy of that decision. **Synthetic data.** The boxes are fixed, not
fitted per subject.

Usage::

    python benchmarks/paper/hard_timing_rule.py DATASET_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from ttfsnet_nas.emotion.synth_render import (
    _PAIRS,  # emotion → (unit, unit, in phase): the generator's own table
)


def _activity(frame: np.ndarray) -> dict[str, float]:
    active = np.abs(frame.astype(int) - 128) > 64
    return {
        "brow": float(active[2:22, 12:56].mean()),
        "cheek": float(active[38:60, 20:60].mean()),
        "fold": float(active[28:62, 0:18].mean()),
    }


def main(root: Path) -> None:
    """Print the rule's balanced accuracy on every pair sequence of the set in ``root``."""
    database = json.loads((root / "emotion.json").read_text())["database"]
    rng = np.random.default_rng(0)
    correlations: dict[bool, list[float]] = {True: [], False: []}
    for name, entry in database.items():
        emotion = entry["annotations"]["label"]
        if emotion not in _PAIRS:
            continue
        first, second, together = _PAIRS[emotion]
        files = sorted((root / "event" / emotion / name).iterdir())
        start = int(rng.integers(0, len(files) - 12))
        counts = [_activity(np.asarray(Image.open(files[start + 4 * k]))) for k in range(4)]
        a = np.array([c[first] for c in counts])
        b = np.array([c[second] for c in counts])
        corr = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else 0.0
        correlations[together].append(corr)
    hit_together = float(np.mean(np.array(correlations[True]) > 0))
    hit_apart = float(np.mean(np.array(correlations[False]) <= 0))
    n = len(correlations[True]) + len(correlations[False])
    print(f"{root}: {n} pair sequences, timing rule balanced accuracy {(hit_together + hit_apart) / 2:.3f}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python benchmarks/paper/hard_timing_rule.py DATASET_DIR")
    main(Path(sys.argv[1]))

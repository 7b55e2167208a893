"""Builds the starting compression dictionary from the real fixtures' event mix, and prints how
well it compresses, per source.

The dictionary (``blueplane_core/data/starting_dictionary.zdict``, stored by migration 6) is
trained on the stored bodies (``raw_traces.stored_body``: metadata and payload) of the first
``codec.STARTING_SAMPLES`` events of ``tests.real_mix.Mix`` with seed 7, at ``codec.ZSTD_LEVEL``
and ``codec.DICTIONARY_BYTES``. The build is deterministic: running it again on the same
fixtures and zstandard version writes the same bytes (``--check`` says whether they match).

Printed, per platform/source and overall: the envelope JSON bytes per event against the stored
blob bytes, for a held-out mix (seed 99, other ids and numbers than the training set) and for the
fixture events themselves, with the shipped dictionary and, for reference, with one trained on
synthetic events (as migration 1 did before migration 6 shipped one).

    python bench/dictionary.py            # print the figures for the shipped dictionary
    python bench/dictionary.py --write    # rebuild blueplane_core/data/starting_dictionary.zdict
    python bench/dictionary.py --check    # exit 1 if a rebuild would differ from the shipped one
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from blueplane_core import codec, synthetic
from blueplane_core.migrations.m0001_spine import BOOTSTRAP_SAMPLES
from blueplane_core.raw_traces import stored_body
from tests import real_mix

TRAINING_SEED = 7
HELD_OUT_SEED = 99
HELD_OUT_EVENTS = 20_000


def training_samples(found: list[dict[str, Any]]) -> list[bytes]:
    mix = real_mix.Mix(found, seed=TRAINING_SEED)
    return [stored_body(e) for e in mix.take(codec.STARTING_SAMPLES)]


def ratios(dictionary: bytes, sample: list[dict[str, Any]]) -> dict[str, tuple[int, int, int]]:
    """source -> (events, envelope JSON bytes, stored blob bytes), plus "overall"."""
    encoder = codec.Encoder(codec.Dictionary(1, dictionary))
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for event in sample:
        for key in (real_mix.source_of(event), "overall"):
            row = per[key]
            row[0] += 1
            row[1] += len(orjson.dumps(event))
            row[2] += len(encoder.encode(stored_body(event)))
    return {k: (v[0], v[1], v[2]) for k, v in sorted(per.items())}


def show(title: str, figures: dict[str, tuple[int, int, int]]) -> None:
    print(title)
    for source, (count, json_bytes, stored) in figures.items():
        print(
            f"  {source:24s} {count:6,} events  JSON {json_bytes / count:5.0f} B"
            f"  stored {stored / count:5.1f} B  1/{json_bytes / stored:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--write", action="store_true", help="rebuild the shipped dictionary")
    parser.add_argument("--check", action="store_true", help="exit 1 if a rebuild differs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["BLUEPLANE_HOME"] = home  # the hashes' secret: a throwaway one
        found = real_mix.fixture_events()
        held_out = real_mix.Mix(found, seed=HELD_OUT_SEED).take(HELD_OUT_EVENTS)
        built = codec.train(training_samples(found)) if args.write or args.check else None
    if args.write and built is not None:
        codec.STARTING_DICTIONARY.write_bytes(built)
        print(f"wrote {codec.STARTING_DICTIONARY} ({len(built):,} bytes)")
    if args.check:
        same = built == codec.starting_dictionary()
        print("rebuild matches the shipped dictionary" if same else "rebuild DIFFERS")
        sys.exit(0 if same else 1)
    shipped = codec.starting_dictionary()
    synthetic_dict = codec.train(
        [stored_body(e) for e in synthetic.take(BOOTSTRAP_SAMPLES, seed=7)]
    )
    show(f"shipped dictionary, held-out mix (seed {HELD_OUT_SEED})", ratios(shipped, held_out))
    show("shipped dictionary, the fixture events themselves", ratios(shipped, found))
    show("synthetic dictionary (migration 1), held-out mix", ratios(synthetic_dict, held_out))


if __name__ == "__main__":
    main()

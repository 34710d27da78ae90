"""A replay saved as training rows: replay a file once, back-test and train on it many times.

The replay screens every order through the real screening code (:mod:`.pipeline`), a few
thousand orders a second; reading features already computed runs several times faster
(``benchmarks/replay.py``). ``fraudscreen backtest --save-replay FILE`` writes the replayed
rows in the format of ``export-training`` (:mod:`.logged`), so ``train`` and ``backtest`` read
them with ``--data FILE``: the same features, labels, label times, rule hits and segments,
hence the same figures as a replay of the requests, for another split, seed, review capacity,
warm-up or model to compare.

Each row also says how it was replayed (``replayed``: the feature schema, the rules version,
the label delay, what gave the segments), and its ``account``: a number the replay gave the
row's account, shared by the rows of one account in this file and meaning nothing outside it,
so that the back-test's intervals resample accounts as they do on a replay. The rows are those
of that replay: after changing the rules, the label delay or the features, replay the requests
again (a file saved with other features is refused when read). Like an export, the file holds
no account id, email, IP, device or card: a transaction id, a time, a label, numbers, rule ids
and that number.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fraudscreen.features import FEATURE_SCHEMA, feature_log
from fraudscreen.training.jsonl import replace_jsonl
from fraudscreen.training.logged import FORMAT, training_fields
from fraudscreen.training.pipeline import ReplayResult

__all__ = ["saved_replay_rows", "write_saved_replay"]


def saved_replay_rows(replayed: ReplayResult) -> Iterator[dict[str, Any]]:
    """The replayed rows as ``export-training`` rows plus ``transaction_id``, ``segment`` and
    ``replayed`` (how they were made: with the replay's label delay, which shaped the
    profiles; and the rows of its file the replay skipped), in the replay's order."""
    if replayed.logged:
        raise ValueError("only a replay of score requests can be saved; these rows were read")
    how = {
        "feature_schema": FEATURE_SCHEMA,
        "rules_version": replayed.rules_version,
        "label_delay_days": replayed.label_delay_days,
        "segment_by": replayed.segment_by if replayed.segments else None,
        "rows_skipped": replayed.skipped,
    }
    segments = replayed.segments or [None] * int(replayed.y.size)
    accounts = replayed.accounts.tolist() if replayed.accounts.size else [None] * int(replayed.y.size)
    for i, label in enumerate(replayed.y.tolist()):
        failed = replayed.rule_errors[i] if replayed.rule_errors else ()
        logged = feature_log(replayed.X[i], ((hit.rule_id, hit.action) for hit in replayed.rule_hits[i]),
                             ((f.rule_id, f.action) for f in failed))
        label_time = float(replayed.label_times[i]) if label else None
        yield {"format": FORMAT, "transaction_id": replayed.transaction_ids[i],
               **training_fields(float(replayed.event_times[i]), "fraud" if label else "legit",
                                 label_time, logged),
               "segment": segments[i], "account": accounts[i], "replayed": how}


def write_saved_replay(replayed: ReplayResult, path: Path) -> int:
    """Write :func:`saved_replay_rows` as JSON Lines (``.gz`` compresses) to ``path``, replacing
    it only once complete; the number of rows."""
    return replace_jsonl(saved_replay_rows(replayed), path)

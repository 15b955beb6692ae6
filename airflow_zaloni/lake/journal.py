"""The commit journal: the record written at a transaction's commit point, and how it is carried out.

``<root>/_zaloni/txn/<txn_id>.json`` lists the partition moves, the Iceberg table commits and the state updates of
one transaction (see ``transaction.py`` for the protocol). :func:`apply_journal` carries it out; every step can be
repeated, so a journal left by a killed process is rolled forward by the next lake operation.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_zaloni.lake.manifest import STATE_NAME
from airflow_zaloni.lake.tables import commit_tables

if TYPE_CHECKING:
    from airflow_zaloni.lake.handle import LakeHandle

JOURNAL_DIR = "_zaloni/txn"
OWNER_NAME = "_owner.json"


def apply_journal(lake: LakeHandle, journal: dict[str, Any]) -> None:
    """Carry out a commit journal; every step can be repeated after a crash."""
    storage = lake.storage
    txn_id = journal["txn_id"]
    for move in journal["moves"]:
        dataset, partition = move["dataset"], move["partition"]
        # How a staged folder replaces the partition is the storage's business: renames where the filesystem has
        # them, the manifest written last on object stores (storage_object.py). Either way repeatable.
        staged, trash = f"{dataset}/_staging/{txn_id}/{partition}", f"{dataset}/_trash/{txn_id}/{partition}"
        storage.publish(staged, f"{dataset}/{partition}", trash)
    # One snapshot per table, after its files are in place and before the watermark files: each skips itself when
    # the table already holds this transaction (see tables.py).
    commit_tables(lake, journal)
    for move in journal["moves"]:  # object stores: the replaced objects, which the previous snapshot named
        storage.retire(f"{move['dataset']}/{move['partition']}")
    for dataset, state in journal["states"].items():
        # A journal finished late (its writer stalled past stale_after on another node while someone else rolled
        # it forward and committed again) must not put an older watermark back: the version only goes up.
        current = storage.read_json(f"{dataset}/{STATE_NAME}") or {}
        if int(current.get("version", 0)) >= int(state.get("version", 0)):
            continue
        storage.write_atomic(f"{dataset}/{STATE_NAME}", json.dumps(state, default=str).encode())
    for dataset in {m["dataset"] for m in journal["moves"]} | set(journal["states"]):
        storage.remove(f"{dataset}/_trash/{txn_id}")
        storage.remove(f"{dataset}/_staging/{txn_id}")

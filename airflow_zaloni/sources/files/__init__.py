"""Files as a source, without Airflow: list and read them anywhere, decode to Arrow, land each file exactly once.

* :mod:`.client` -- listing and reading files on local disk, SFTP, FTP/FTPS, WebHDFS and fsspec stores;
* :mod:`.formats` -- CSV, JSON Lines, fixed-width, Parquet, Avro, ORC (gzip, bz2, xz, zip unpacked on the fly);
* :mod:`.schema` -- schema drift between files and the policies that resolve it;
* :mod:`.ledger` -- the ledger of ingested files (path, size, mtime, sha256, version);
* :mod:`.ingest` -- one run: select, decide, land, decode, record, in one lake transaction;
* :mod:`.source` -- one file as a plain :class:`~airflow_zaloni.sources.base.Source` (``read_csv``, ``read_jsonl``);
* :mod:`.watch` -- whether a folder holds something to ingest yet (the sensor's and the trigger's check).
"""

from __future__ import annotations

from airflow_zaloni.sources.files.formats import FORMATS, FixedField, FormatOptions, Rejected, decode
from airflow_zaloni.sources.files.ingest import COMPLETION_STRATEGIES, FileIngest, IngestResult, complete
from airflow_zaloni.sources.files.ledger import LEDGER_SCHEMA, Ledger, LedgerEntry, landing_name
from airflow_zaloni.sources.files.schema import DRIFT_POLICIES, Drift
from airflow_zaloni.sources.files.source import FileSource, read_csv, read_jsonl

__all__ = [
    "COMPLETION_STRATEGIES",
    "DRIFT_POLICIES",
    "FORMATS",
    "LEDGER_SCHEMA",
    "Drift",
    "FileIngest",
    "FileSource",
    "FixedField",
    "FormatOptions",
    "IngestResult",
    "Ledger",
    "LedgerEntry",
    "Rejected",
    "complete",
    "decode",
    "landing_name",
    "read_csv",
    "read_jsonl",
]

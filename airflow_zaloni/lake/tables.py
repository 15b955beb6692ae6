"""The lake's ``raw``, ``trusted`` and ``refined`` datasets as Apache Iceberg tables (pyiceberg).

A table's data files are the lake's own Parquet files, registered in place (no copy, no rewrite); the table's
metadata lives in the dataset folder under ``_iceberg/metadata`` (``write.metadata.path``: the leading ``_`` keeps
direct folder readers -- pyarrow, Spark reading a path -- away from it).

- **Identity.** Namespace ``(zone, system)``, table name = dataset name: ``raw.sales.orders``.
- **Partitioning.** An identity partition on the string column ``lake_partition`` (:data:`PARTITION_COLUMN`) whose
  value is the lake partition (``dt=2026-11-25``, ``run=...``). The column is not in the Parquet files: Iceberg
  readers (pyiceberg, Spark) take an identity partition's value from the table's metadata.
- **Commits.** A lake transaction's journal (``transaction.py``) lists, per table dataset, the partitions it replaces
  and their files; rolling the journal forward publishes the files and then commits ONE snapshot per table that
  deletes the replaced partitions' files and adds the new ones (:func:`commit_tables`). The snapshot summary carries
  ``zaloni.txn-id``, ``zaloni.run-id``, ``zaloni.try-number``, ``zaloni.watermark-before``/``-after`` (JSON),
  ``zaloni.source``, ``zaloni.producer``, ``zaloni.partitions`` and the files' sha256 (``zaloni.files-sha256``, or
  a digest of them and ``zaloni.manifests`` when there are many). The same Iceberg commit adds the transaction id
  to the table property ``zaloni.txn-ids``; a roll-forward that finds its id there (or in a kept snapshot) skips
  the table: each table commit happens once, also after its snapshot expired (``table_history.py``).
- **First commit.** The table is created with everything the dataset already holds: partitions committed before
  (a lake of the layout before tables) are registered in the same first snapshot, so the table and the manifests
  always agree. ``zaloni lake migrate`` does the same for a dataset without a new commit.
- **Types Iceberg cannot hold** (Arrow ``duration``, decimals wider than 38 digits, ``uint64``, nanosecond times and
  timestamps, ``date64``, ``null``...): the dataset stays a *file dataset* (manifests only, read as before) -- a
  warning names the columns in the task log, and ``zaloni lake ls`` shows the reason. Nothing is dropped or changed.
  The same holds when a commit changes a column's type in a way Iceberg cannot evolve (the table is dropped from the
  catalog; the files stay).
- **Statistics.** String columns whose Parquet min/max are not valid UTF-8 get no bounds in the table (counts only)
  instead of failing the commit; ``zaloni lake verify`` names such files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from airflow_zaloni.lake.errors import LakeError
from airflow_zaloni.lake.manifest import MANIFEST_NAME, schema_from_json
from airflow_zaloni.lake.paths import DatasetRef
from airflow_zaloni.lake.table_history import (
    HOUSEKEEPING_PROPERTIES,
    MAX_SNAPSHOT_AGE_MS,
    MIN_SNAPSHOTS_TO_KEEP,
    commit_properties,
    expire_snapshots,
    merging_overwrite,
    recorded_txn_ids,
)

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table

    from airflow_zaloni.lake.handle import LakeHandle as Lake

log = logging.getLogger(__name__)

#: Zones whose datasets are tables (``landing`` keeps the bytes as received: files with manifests).
TABLE_ZONES = ("raw", "trusted", "refined")
#: The identity-partition column of every lake table; its value is the lake partition (``dt=2026-11-25``).
PARTITION_COLUMN = "lake_partition"
#: Table metadata folder, relative to the dataset folder.
METADATA_DIR = "_iceberg/metadata"
#: Prefix of the lake's snapshot summary properties.
SUMMARY_PREFIX = "zaloni."
#: Above this many characters the files' sha256 list is replaced by a digest (the manifests keep each one).
MAX_SUMMARY_FILES_CHARS = 16_000
_MAX_SOURCE_CHARS = 4_000


def is_table_zone(ref: DatasetRef) -> bool:
    return ref.zone in TABLE_ZONES


def table_identifier(ref: DatasetRef) -> tuple[str, str, str]:
    """``(zone, system, name)``: namespace ``(zone, system)`` and the dataset's name."""
    return (ref.zone, ref.system, ref.name)


def table_name(ref: DatasetRef) -> str:
    return ".".join(table_identifier(ref))


# -- types -------------------------------------------------------------------------------------------------------------
def _to_iceberg(schema: pa.Schema) -> Any:
    """``schema`` as an Iceberg schema without field ids: the one conversion behind the type policy, the schema
    comparison and the creation of a table, so that a table is created from exactly what the policy accepted."""
    from pyiceberg.io.pyarrow import _ConvertToIcebergWithoutIDs, visit_pyarrow

    return visit_pyarrow(schema, _ConvertToIcebergWithoutIDs())


def _unsupported(field: pa.Field) -> str | None:
    def has_uint64(t: pa.DataType) -> bool:
        if pa.types.is_uint64(t):
            return True
        if pa.types.is_dictionary(t):
            return has_uint64(t.value_type)
        return any(has_uint64(t.field(i).type) for i in range(t.num_fields))

    if has_uint64(field.type):
        return f"{field.name} ({field.type}: values above 2**63 have no Iceberg type)"
    try:
        _to_iceberg(pa.schema([field]))
    except Exception as exc:  # pyiceberg says "unsupported type" in several exception types
        return f"{field.name} ({field.type}: {str(exc).splitlines()[0]})"
    if field.name == PARTITION_COLUMN:
        return f"{field.name} (the name of the tables' partition column)"
    return None


def type_problems(schema: pa.Schema) -> list[str]:
    """The columns of ``schema`` that an Iceberg table cannot hold, each with its reason (empty: all fine)."""
    return [p for p in (_unsupported(f) for f in schema) if p]


#: Iceberg types one column may have in different partitions of one table (Iceberg's type promotions).
_PROMOTABLE = ({"int", "long"}, {"float", "double"})


def schema_conflicts(schemas: list[pa.Schema]) -> list[str]:
    """Columns whose types differ between ``schemas`` beyond what Iceberg can promote (empty: one table holds all)."""
    seen: dict[str, set[str]] = {}
    for schema in schemas:
        for f in schema:
            if f.name == PARTITION_COLUMN:
                continue
            converted = _to_iceberg(pa.schema([f]))
            seen.setdefault(f.name, set()).add(str(converted.fields[0].field_type))
    return [
        f"{name} ({' / '.join(sorted(types))})"
        for name, types in seen.items()
        if len(types) > 1 and not any(types <= allowed for allowed in _PROMOTABLE)
    ]


# -- places ------------------------------------------------------------------------------------------------------------
def lake_uri(lake: Lake, path: str) -> str:
    """The URI an Iceberg table records for a storage path of the lake."""
    if lake.storage.protocol == "file":
        return f"file://{path}"
    base = lake.storage.base.rstrip("/")
    if path.startswith(base):
        return lake.root.rstrip("/") + path[len(base) :]
    return f"{lake.storage.protocol}://{path}"


def storage_path(lake: Lake, uri: str) -> str:
    """The lake storage path of a URI recorded in a table (inverse of :func:`lake_uri`)."""
    if lake.storage.protocol == "file":
        for prefix in ("file://", "file:"):
            if uri.startswith(prefix):
                return uri[len(prefix) :]
        return uri
    root = lake.root.rstrip("/")
    if uri.startswith(root):
        return lake.storage.base.rstrip("/") + uri[len(root) :]
    return uri.split("://", 1)[1] if "://" in uri else uri


# -- catalog -----------------------------------------------------------------------------------------------------------
def catalog_of(lake: Lake) -> Catalog | None:
    return lake.table_catalog()


def load_table(lake: Lake, ref: DatasetRef) -> Table | None:
    """The table of ``ref``, or ``None`` (no catalog, a landing dataset, or a dataset that is not a table)."""
    if not is_table_zone(ref):
        return None
    catalog = catalog_of(lake)
    if catalog is None:
        return None
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    try:
        return catalog.load_table(table_identifier(ref))
    except (NoSuchTableError, NoSuchNamespaceError):
        return None
    except Exception as exc:
        raise LakeError(f"{ref}: the Iceberg catalog cannot load table {table_name(ref)}: {exc}") from exc


def snapshot_of(table: Table, snapshot_id: int | None) -> Any:
    if snapshot_id is None:
        return table.current_snapshot()
    snapshot = table.snapshot_by_id(snapshot_id)
    if snapshot is None:
        known = ", ".join(str(s.snapshot_id) for s in table.snapshots()[-10:]) or "none"
        raise LakeError(
            f"table {'.'.join(table.name())} has no snapshot {snapshot_id} (latest: {known}; older ones expire, "
            f"see the table's {MIN_SNAPSHOTS_TO_KEEP} and {MAX_SNAPSHOT_AGE_MS})"
        )
    return snapshot


def table_files(
    lake: Lake, table: Table, *, snapshot_id: int | None = None, partition: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Partition -> data files (``path`` as a lake storage path, ``rows``, ``bytes``) of a table snapshot."""
    snapshot = snapshot_of(table, snapshot_id)
    if snapshot is None:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for data_file in live_data_files(table, snapshot):
        value = str(data_file.partition[0])
        if partition is not None and value != partition:
            continue
        out.setdefault(value, []).append(
            {
                "path": storage_path(lake, data_file.file_path),
                "rows": data_file.record_count,
                "bytes": data_file.file_size_in_bytes,
            }
        )
    for files in out.values():
        files.sort(key=lambda f: f["path"])
    return dict(sorted(out.items()))


def live_data_files(table: Table, snapshot: Any) -> list[DataFile]:
    """Every data file of a snapshot, empty ones included (a scan plan skips files without rows, but a partition
    whose commit had no rows still exists: its empty file carries its schema)."""
    from pyiceberg.manifest import DataFileContent

    files = []
    for manifest in snapshot.manifests(table.io):
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            if entry.data_file.content == DataFileContent.DATA:
                files.append(entry.data_file)
    return files


def partition_data_files(table: Table, snapshot: Any, partitions: set[str]) -> list[DataFile]:
    """The data files of ``partitions`` in a snapshot (empty ones included), reading only the manifests whose
    partition summaries can hold one of them: a commit into new partitions reads no manifest at all."""
    if not partitions:
        return []
    from pyiceberg.expressions import In
    from pyiceberg.expressions.visitors import inclusive_projection, manifest_evaluator
    from pyiceberg.manifest import DataFileContent

    row_filter = In(PARTITION_COLUMN, partitions)  # type: ignore[call-arg, arg-type]  # pydantic __new__
    evaluators: dict[int, Any] = {}
    files = []
    for manifest in snapshot.manifests(table.io):
        spec_id = manifest.partition_spec_id
        if spec_id not in evaluators:
            spec, schema = table.specs()[spec_id], table.schema()
            evaluators[spec_id] = manifest_evaluator(spec, schema, inclusive_projection(schema, spec)(row_filter))
        if not evaluators[spec_id](manifest):
            continue
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            data_file = entry.data_file
            if data_file.content == DataFileContent.DATA and str(data_file.partition[0]) in partitions:
                files.append(data_file)
    return files


def snapshot_info(table: Table, snapshot_id: int | None = None) -> dict[str, Any] | None:
    """Id, time, operation and the lake's summary properties of a snapshot (the current one by default)."""
    snapshot = snapshot_of(table, snapshot_id)
    if snapshot is None:
        return None
    summary = snapshot.summary.ser_model() if snapshot.summary is not None else {}
    return {
        "table": ".".join(table.name()),
        "snapshot_id": snapshot.snapshot_id,
        "timestamp_ms": snapshot.timestamp_ms,
        "operation": summary.get("operation"),
        "summary": {k: v for k, v in summary.items() if k.startswith(SUMMARY_PREFIX)},
    }


# -- planning a commit (at journal time) -------------------------------------------------------------------------------
def plan(ref: DatasetRef, dataset_path: str, manifests: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """What a transaction's journal records for one table dataset: partitions, files and snapshot properties."""
    manifests = list(manifests)
    if not is_table_zone(ref) or not manifests:
        return None
    files = {
        m["partition"]: [f for f in m["files"] if f.get("rows") is not None and f["path"].endswith(".parquet")]
        for m in manifests
    }
    if not any(files.values()) and not any(m["files"] for m in manifests):
        # Only a watermark or nothing at all moved: there is no snapshot to make (the state file carries it).
        pass
    first = manifests[0]
    shas = {f"{p}/{f['path']}": f["sha256"] for p, fs in files.items() for f in fs}
    properties = {
        "zaloni.txn-id": first["txn_id"],
        "zaloni.run-id": str(first.get("run_id") or ""),
        "zaloni.try-number": str(first.get("try_number") or ""),
        "zaloni.producer": str(first.get("producer") or ""),
        "zaloni.watermark-before": json.dumps(first["watermark"]["before"], default=str),
        "zaloni.watermark-after": json.dumps(first["watermark"]["after"], default=str),
        "zaloni.source": json.dumps(first.get("source") or {}, default=str, sort_keys=True)[:_MAX_SOURCE_CHARS],
        "zaloni.partitions": json.dumps(sorted(files)),
    }
    listed = json.dumps(shas, sort_keys=True)
    if len(listed) <= MAX_SUMMARY_FILES_CHARS:
        properties["zaloni.files-sha256"] = listed
    else:
        properties["zaloni.files-digest"] = hashlib.sha256(listed.encode()).hexdigest()
        properties["zaloni.manifests"] = json.dumps([f"{p}/{MANIFEST_NAME}" for p in sorted(files)])
    return {
        "dataset": ref.key,
        "path": dataset_path,
        "partitions": files,
        "schemas": [m["schema"]["arrow"] for m in manifests if m.get("schema") and m["schema"].get("arrow")],
        "properties": properties,
    }


# -- committing (rolling the journal forward) --------------------------------------------------------------------------
def commit_tables(lake: Lake, journal: dict[str, Any]) -> None:
    """One snapshot per table dataset of the journal; repeatable (a table already holding this txn is skipped)."""
    if not journal.get("tables"):
        return
    catalog = catalog_of(lake)
    if catalog is None:
        return
    for entry in journal["tables"]:
        ref = DatasetRef.parse(entry["dataset"])
        _commit_one(lake, catalog, ref, entry)


def _schemas(entries: Iterable[str]) -> list[pa.Schema]:
    out = []
    for encoded in entries:
        schema = schema_from_json({"arrow": encoded})
        if schema is not None:
            out.append(schema)
    return out


def _commit_one(lake: Lake, catalog: Catalog, ref: DatasetRef, entry: dict[str, Any], register: bool = False) -> None:
    from pyiceberg.exceptions import CommitFailedException

    txn_id = entry["properties"]["zaloni.txn-id"]
    for _attempt in range(5):
        table = load_table(lake, ref)
        if table is not None:
            table = _dropped_if_half_made(catalog, ref, table)
        if table is not None and _holds(table, txn_id):
            return  # committed before (a roll-forward repeats this step)
        existing: dict[str, list[dict[str, Any]]] = {}
        schemas = _schemas(entry["schemas"])
        if table is None:
            # The first commit registers what the dataset already holds (partitions of the layout before tables).
            for partition, manifest in _committed_manifests(lake, ref, exclude=set(entry["partitions"])):
                existing[partition] = [
                    f for f in manifest["files"] if f.get("rows") is not None and f["path"].endswith(".parquet")
                ]
                if manifest.get("schema") and manifest["schema"].get("arrow"):
                    schemas.extend(_schemas([manifest["schema"]["arrow"]]))
            if not any(entry["partitions"].values()) and not any(existing.values()):
                return  # nothing to register yet (no Parquet file)
        problems = sorted({p for s in schemas for p in type_problems(s)})
        if problems:
            _not_a_table(lake, catalog, ref, table, f"columns Iceberg cannot hold: {'; '.join(problems)}")
            return
        if table is None:
            if not_a_table_reason(lake, ref) is not None and not register:
                return  # kept as files on purpose: zaloni lake migrate registers it again when its data allows
            conflicts = schema_conflicts(schemas)
            if conflicts:
                _not_a_table(
                    lake, catalog, ref, None, f"column types differ between partitions: {'; '.join(conflicts)}"
                )
                return
        try:
            if table is None:
                table = _create(lake, catalog, ref, schemas)
            _snapshot(lake, table, entry, existing, schemas)
            return
        except CommitFailedException:
            continue  # another writer (an engine) committed meanwhile: reload and redo
        except _SchemaMismatch as exc:
            _not_a_table(lake, catalog, ref, table, str(exc))
            return
    raise LakeError(f"{ref}: the table commit of transaction {txn_id} kept conflicting with other writers")


def _holds(table: Table, txn_id: str) -> bool:
    """Whether the table holds transaction ``txn_id`` already: the table property that each lake commit adds its id
    to says so even after the transaction's snapshot expired (table_history.py), a kept snapshot's summary for a
    commit made before that property existed."""
    if txn_id in recorded_txn_ids(table.properties):
        return True
    return any(s.summary is not None and s.summary.get("zaloni.txn-id") == txn_id for s in table.snapshots())


class _SchemaMismatch(LakeError):
    pass


def _not_a_table(lake: Lake, catalog: Catalog, ref: DatasetRef, table: Table | None, reason: str) -> None:
    log.warning("%s stays a file dataset (not an Iceberg table): %s", ref, reason)
    if table is not None:
        catalog.drop_table(table_identifier(ref))
    lake.storage.makedirs(f"{lake.dataset_path(ref)}/_iceberg")
    lake.storage.write_atomic(f"{lake.dataset_path(ref)}/{NOT_A_TABLE}", json.dumps({"reason": reason}).encode())


#: Marker of a table-zone dataset that is kept as files, with the reason (read by ``zaloni lake ls``).
NOT_A_TABLE = "_iceberg/not-a-table.json"


def not_a_table_reason(lake: Lake, ref: DatasetRef) -> str | None:
    data = lake.storage.read_json(f"{lake.dataset_path(ref)}/{NOT_A_TABLE}")
    return str(data.get("reason")) if isinstance(data, dict) else None


def _committed_manifests(lake: Lake, ref: DatasetRef, *, exclude: set[str]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for partition in lake.manifest_partitions(ref):
        if partition in exclude:
            continue
        manifest = lake.manifest(ref, partition)
        if manifest is not None:
            out.append((partition, manifest))
    return out


def _iceberg_schema(schemas: list[pa.Schema]) -> pa.Schema:
    """The union of the partitions' Arrow schemas (later columns appended), plus the partition column."""
    fields: dict[str, pa.Field] = {}
    for schema in schemas:
        for f in schema:
            if f.name not in fields:
                fields[f.name] = f.with_nullable(True)
    fields[PARTITION_COLUMN] = pa.field(PARTITION_COLUMN, pa.string(), nullable=True)
    return pa.schema(list(fields.values()))


def ensure_namespace(catalog: Catalog, namespace: tuple[str, ...]) -> None:
    """Create ``namespace`` unless it exists, also when another writer creates it at the same moment.

    Writers of different datasets of one system hold different dataset locks, so two of them can both find the
    namespace missing; the SQL catalog then answers the slower one with its database's unique-key error rather
    than ``NamespaceAlreadyExistsError``. Whoever created it, the namespace exists afterwards, which is all a
    commit needs.
    """
    try:
        catalog.create_namespace_if_not_exists(namespace)
    except Exception:
        if not catalog.namespace_exists(namespace):
            raise


def _create(lake: Lake, catalog: Catalog, ref: DatasetRef, schemas: list[pa.Schema]) -> Table:
    """Create the dataset's table whole -- schema, partition spec and name mapping -- in the catalog's one commit.

    A table created bare and completed by a second commit is left unpartitioned by a writer killed in between; the
    next commit then writes manifests with an empty partition tuple (seen in the SIGKILL test on HDFS).
    """
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import assign_fresh_schema_ids
    from pyiceberg.table.name_mapping import create_mapping_from_schema
    from pyiceberg.transforms import IdentityTransform

    ensure_namespace(catalog, table_identifier(ref)[:2])
    # The ids the catalog gives the columns (it assigns fresh ids in the same order), so the partition field and
    # the name mapping can name them before the table exists.
    schema = assign_fresh_schema_ids(_to_iceberg(_iceberg_schema(schemas)))
    spec = PartitionSpec(
        PartitionField(
            source_id=schema.find_field(PARTITION_COLUMN).field_id,
            field_id=1000,  # the first partition field id of any Iceberg table
            transform=IdentityTransform(),
            name=PARTITION_COLUMN,
        )
    )
    location = lake_uri(lake, lake.dataset_path(ref))
    table = catalog.create_table(
        table_identifier(ref),
        schema=schema,
        location=location,
        partition_spec=spec,
        properties={
            "write.metadata.path": f"{location}/{METADATA_DIR}",
            "write.metadata.delete-after-commit.enabled": "true",
            "write.metadata.previous-versions-max": "50",
            **HOUSEKEEPING_PROPERTIES,
            "zaloni.dataset": ref.key,
            "zaloni.partition-column": PARTITION_COLUMN,
            "schema.name-mapping.default": create_mapping_from_schema(schema).model_dump_json(),
        },
    )
    lake.storage.remove(f"{lake.dataset_path(ref)}/{NOT_A_TABLE}")
    return table


def _dropped_if_half_made(catalog: Catalog, ref: DatasetRef, table: Table) -> Table | None:
    """``table``, or ``None`` once dropped from the catalog because it has no partition spec.

    Versions before 2026-12-07 created a table bare and partitioned it in a second commit; a writer killed in
    between left it unpartitioned. Dropped, the commit creates it again whole and registers every partition the
    dataset's folders hold (they, not the table, are the record of what was published).
    """
    if table.spec().fields:
        return table
    log.warning("%s: its Iceberg table has no partition spec (its creation was interrupted): registering it again", ref)
    catalog.drop_table(table_identifier(ref))
    return None


def _evolve(table: Table, schemas: list[pa.Schema]) -> Table:
    """Add new columns / widen types so the table holds every schema of the commit; else :class:`_SchemaMismatch`."""
    from pyiceberg.table.name_mapping import create_mapping_from_schema

    arrow = _iceberg_schema(schemas)
    current = table.schema()
    names = {f.name for f in current.fields}
    try:
        with table.transaction() as tx:
            with tx.update_schema() as update:
                update.union_by_name(arrow)
            if set(arrow.names) - names:
                tx.set_properties(
                    {
                        "schema.name-mapping.default": create_mapping_from_schema(
                            tx.table_metadata.schema()
                        ).model_dump_json()
                    }
                )
    except Exception as exc:
        from pyiceberg.exceptions import CommitFailedException

        if isinstance(exc, CommitFailedException):
            raise
        raise _SchemaMismatch(f"the commit's schema does not evolve the table's: {exc}") from exc
    return table


def _changes_schema(table: Table, schemas: list[pa.Schema]) -> bool:
    """Whether a commit's schemas add a column or change a type (else the schema update, a commit of its own that
    copies the table's metadata a few times, is skipped). Nested types always count as a change: evolving is safe."""
    from pyiceberg.types import PrimitiveType

    current = {f.name: f.field_type for f in table.schema().fields}
    wanted = _to_iceberg(_iceberg_schema(schemas))
    return any(
        not isinstance(f.field_type, PrimitiveType) or current.get(f.name) != f.field_type for f in wanted.fields
    )


def _snapshot(
    lake: Lake,
    table: Table,
    entry: dict[str, Any],
    existing: dict[str, list[dict[str, Any]]],
    schemas: list[pa.Schema],
) -> None:
    if schemas and entry["schemas"] and _changes_schema(table, _schemas(entry["schemas"])):
        table = _evolve(table, _schemas(entry["schemas"]))
    dataset_path = entry["path"]
    replaced = set(entry["partitions"])
    old = []
    snapshot = table.current_snapshot()
    if snapshot is not None:
        old = partition_data_files(table, snapshot, replaced)
    added = [(p, f) for p, files in [*existing.items(), *entry["partitions"].items()] for f in files]
    if not old and not added:
        return  # nothing changes in the table (a watermark-only commit): no snapshot
    with table.transaction() as tx:
        # the transaction id recorded in the same commit as the snapshot (see _holds)
        tx.set_properties(commit_properties(table.properties, entry["properties"]["zaloni.txn-id"]))
        metadata = tx.table_metadata  # a copy of the whole metadata each time it is read: read once
        with merging_overwrite(tx, metadata, table.io, entry["properties"]) as producer:
            for data_file in old:
                producer.delete_data_file(data_file)
            for partition, f in added:
                path = f"{dataset_path}/{partition}/{f['path']}"
                producer.append_data_file(_data_file(lake, metadata, path, partition, f["bytes"]))
        unnamed = expire_snapshots(tx, table.io)
    # committed: nothing names these files any more (one left behind is only litter)
    for path in [*producer.merged_away, *unnamed]:
        try:
            table.io.delete(path)
        except OSError as exc:
            log.warning("%s: cannot delete %s, which no snapshot names any more: %s", dataset_path, path, exc)


def _data_file(lake: Lake, metadata: Any, path: str, partition: str, size: int) -> DataFile:
    """An Iceberg DataFile for a published Parquet file of the lake, from its footer (as pyiceberg's add_files)."""
    from pyiceberg.io.pyarrow import (
        compute_statistics_plan,
        data_file_statistics_from_parquet_metadata,
        parquet_path_to_id_mapping,
    )
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
    from pyiceberg.typedef import Record

    with lake.storage.open_read(path) as f:
        footer = pq.ParquetFile(f).metadata
    schema = metadata.schema()
    plan = compute_statistics_plan(schema, metadata.properties)
    mapping = parquet_path_to_id_mapping(schema)
    for column in _columns_without_text_bounds(footer):
        field_id = mapping.get(column)
        if field_id is not None and field_id in plan:
            from pyiceberg.io.pyarrow import MetricModeTypes, MetricsMode

            plan[field_id] = dataclasses.replace(plan[field_id], mode=MetricsMode(MetricModeTypes.COUNTS))
    # Columns of the file that the table does not hold (never expected: the table's schema is the union) are skipped.
    unknown = (
        {footer.row_group(0).column(i).path_in_schema for i in range(footer.num_columns)} - set(mapping)
        if footer.num_row_groups
        else set()
    )
    if unknown:
        raise _SchemaMismatch(f"{path}: columns {sorted(unknown)} are not in the table")
    statistics = data_file_statistics_from_parquet_metadata(
        parquet_metadata=footer, stats_columns=plan, parquet_column_mapping=mapping
    )
    return DataFile.from_args(
        content=DataFileContent.DATA,
        file_path=lake_uri(lake, path),
        file_format=FileFormat.PARQUET,
        partition=Record(partition),
        file_size_in_bytes=size,
        sort_order_id=None,
        spec_id=metadata.default_spec_id,
        equality_ids=None,
        key_metadata=None,
        **statistics.to_serialized_dict(),
    )


def _columns_without_text_bounds(footer: pq.FileMetaData) -> set[str]:
    """Parquet column paths whose min/max statistics are not valid UTF-8 (a producer broke Arrow's promise)."""
    bad: set[str] = set()
    for r in range(footer.num_row_groups):
        group = footer.row_group(r)
        for i in range(footer.num_columns):
            column = group.column(i)
            if column.physical_type != "BYTE_ARRAY" or not column.is_stats_set:
                continue
            try:
                column.statistics.min  # noqa: B018 - decoding is the check
                column.statistics.max  # noqa: B018
            except UnicodeDecodeError:
                bad.add(column.path_in_schema)
    return bad


def register_existing(lake: Lake, ref: DatasetRef) -> str:
    """Register an existing dataset of the layout before tables as a table (``zaloni lake migrate``); idempotent.

    Returns what happened: ``created``, ``exists``, ``not a table: <reason>`` or ``empty``.
    """
    if load_table(lake, ref) is not None:
        return "exists"
    catalog = catalog_of(lake)
    if catalog is None:
        raise LakeError(f"lake {lake.root} has no Iceberg catalog (catalog_type = none): nothing to migrate to")
    state = lake.state(ref)
    last = state.get("last_commit") or {}
    txn_id = f"migrate-{last.get('txn_id') or 'initial'}"
    entry = {
        "dataset": ref.key,
        "path": lake.dataset_path(ref),
        "partitions": {},
        "schemas": [],
        "properties": {
            "zaloni.txn-id": txn_id,
            "zaloni.run-id": str(last.get("run_id") or ""),
            "zaloni.try-number": str(last.get("try_number") or ""),
            "zaloni.producer": "zaloni lake migrate",
            "zaloni.watermark-before": json.dumps(state.get("watermark"), default=str),
            "zaloni.watermark-after": json.dumps(state.get("watermark"), default=str),
            "zaloni.source": "{}",
            "zaloni.partitions": json.dumps(lake.manifest_partitions(ref)),
        },
    }
    _commit_one(lake, catalog, ref, entry, register=True)
    if load_table(lake, ref) is not None:
        return "created"
    reason = not_a_table_reason(lake, ref)
    return f"not a table: {reason}" if reason else "empty"

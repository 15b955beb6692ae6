"""The promotion rules as a Spark job, for data that does not fit one worker.

Submit this file with ``spark-submit`` (or the WFE's ``SparkJobOperator``) and one argument, the job spec (a JSON
string, or ``@path`` to a JSON file) that :func:`airflow_zaloni.lake.promote.spark_spec` builds from the lake's
manifests::

    spark-submit --master yarn --py-files airflow_zaloni.zip \\
        airflow_zaloni/lake/promote_spark.py @/path/spec.json

The driver compiles the same rules to Spark SQL (:mod:`airflow_zaloni.lake.promote_plan` with the Spark dialect)
that the single-node engine runs on DuckDB; the executors only run SQL. The job writes, under the spec's ``output``:

* ``passed/<partition>/`` -- the passing rows (with change capture: the new snapshot, in the target partition);
* ``quarantine/<partition>/`` -- the failing rows with ``_dq_failed_rules`` and ``_dq_partition``;
* ``report/`` -- one JSON line: rows in, passed, quarantined, per-rule counts, dataset checks, failures.

It exits with status 2 when a threshold is broken (after writing the report). Nothing of this is in the lake yet:
:func:`airflow_zaloni.lake.promote.publish_spark_output` then commits both outputs with their counts in one lake
transaction -- or nothing, when the report holds a failure.

Only ``pyspark`` and the Airflow-free modules ``quality`` and ``promote_plan`` are imported, so the driver needs
neither Airflow nor DuckDB (ship the package with ``--py-files`` in cluster deploy mode).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from typing import Any

from airflow_zaloni.lake.promote_plan import (
    DELETED_COL,
    FILE_COL,
    ROW_COL,
    SRC_COL,
    ChangeCapture,
    Tally,
    check_thresholds,
    checked_sql,
    counts_sql,
    dataset_checks_sql,
    merge_sql,
    passed_sql,
    promotion_rules,
    quarantine_sql,
    record_dataset_checks,
    select_list,
    totals,
)
from airflow_zaloni.lake.quality import SPARK, check_columns

EXIT_THRESHOLD = 2


def load_spec(arg: str) -> dict[str, Any]:
    """The spec from a JSON string or ``@file``."""
    if arg.startswith("@"):
        with open(arg[1:], encoding="utf-8") as f:
            return json.load(f)  # type: ignore[no-any-return]
    return json.loads(arg)  # type: ignore[no-any-return]


def _view(spark: Any, name: str, paths: Sequence[str]) -> list[str]:
    """Register the Parquet files as view ``name`` with file and position columns; returns the data columns."""
    from pyspark.sql import functions as F

    df = spark.read.option("mergeSchema", "true").parquet(*paths)
    columns = list(df.columns)
    # input_file_name() + monotonically_increasing_id() order rows like (file, row) do on DuckDB: the id grows with
    # the position inside each file split, so "later file, then later row" wins ties in change capture.
    df.withColumn(FILE_COL, F.input_file_name()).withColumn(
        ROW_COL, F.monotonically_increasing_id()
    ).createOrReplaceTempView(name)
    return columns


def run(spark: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """Run the promotion described by ``spec``; returns the report (also written to ``<output>/report``)."""
    d = SPARK
    cdc = ChangeCapture(**spec["cdc"]) if spec.get("cdc") else None
    rules, row_rules, dataset_rules = promotion_rules(spec.get("rules") or [], cdc)
    reference = spec.get("reference_time")
    reference_time = dt.datetime.fromisoformat(reference) if reference else None
    output = spec["output"].rstrip("/")
    tallies: list[Tally] = []
    failures: list[str] = []
    merge_inputs: list[tuple[str, list[str]]] = []
    all_columns: list[str] = []

    for index, item in enumerate(spec["partitions"]):
        part = item["partition"]
        view = f"zaloni_src_{index}"
        names = _view(spark, view, item["paths"])
        check_columns(rules, names, dataset=f"{spec['source']} {part}")
        all_columns += [n for n in names if n not in all_columns]
        tally = Tally(part)
        tallies.append(tally)
        values = list(spark.sql(dataset_checks_sql(f"SELECT * FROM {view}", dataset_rules, d)).first())
        record_dataset_checks(values, dataset_rules, tally, reference_time, d)
        positioned = [*names, FILE_COL, ROW_COL]
        checked = checked_sql(f"SELECT * FROM {view}", positioned, row_rules, d)
        if row_rules:
            counts = spark.sql(counts_sql(checked, row_rules, d)).first()
            for rule, n in zip(row_rules, counts[:-1]):
                tally.failed[rule.name or ""] = int(n or 0)
            tally.quarantined = int(counts[-1] or 0)
        tally.passed = tally.rows_in - tally.quarantined
        failures += check_thresholds(
            tally,
            rules,
            max_quarantined_rows=spec.get("max_quarantined_rows"),
            max_quarantined_fraction=spec.get("max_quarantined_fraction"),
        )
        if failures:
            continue  # keep counting the other partitions for the report, write nothing more
        spark.sql(quarantine_sql(checked, names, row_rules, part, d)).write.mode("overwrite").parquet(
            f"{output}/quarantine/{part}"
        )
        good = passed_sql(checked, positioned, row_rules, d) if row_rules else f"SELECT * FROM {view}"
        if cdc is None:
            spark.sql(f"SELECT {select_list(names, d)} FROM ({good}) g").write.mode("overwrite").parquet(
                f"{output}/passed/{part}"
            )
        else:
            merge_inputs.append((f"SELECT *, {index} AS {d.ident(SRC_COL)} FROM ({good}) g", [*positioned, SRC_COL]))

    report: dict[str, Any] = {
        "source": spec["source"],
        "target": spec["target"],
        "quarantine": spec["quarantine"],
        "engine": "spark",
        "partitions": [p["partition"] for p in spec["partitions"]],
        **totals(tallies, rules),
        "failures": failures,
    }
    if cdc is not None and not failures:
        base = spec.get("base")
        if base:
            base_columns = _view(spark, "zaloni_base", base["paths"])
            all_columns = [*base_columns, *[c for c in all_columns if c not in base_columns]]
            merge_inputs.insert(
                0,
                (f"SELECT *, -1 AS {d.ident(SRC_COL)} FROM zaloni_base", [*base_columns, FILE_COL, ROW_COL, SRC_COL]),
            )
        merged = spark.sql(merge_sql(merge_inputs, all_columns, cdc, d)).cache()
        try:
            counts = merged.selectExpr(
                f"SUM(CASE WHEN {d.ident(DELETED_COL)} THEN 1 ELSE 0 END)",
                f"SUM(CASE WHEN NOT {d.ident(DELETED_COL)} AND {d.ident(SRC_COL)} = -1 THEN 1 ELSE 0 END)",
                f"SUM(CASE WHEN NOT {d.ident(DELETED_COL)} THEN 1 ELSE 0 END)",
            ).first()
            deleted, unchanged, rows_out = (int(v or 0) for v in counts)
            merged.where(f"NOT {d.ident(DELETED_COL)}").select(*all_columns).write.mode("overwrite").parquet(
                f"{output}/passed/{spec['target_partition']}"
            )
        finally:
            merged.unpersist()
        report["cdc_counts"] = {
            "base_partition": base["partition"] if base else None,
            "rows_out": rows_out,
            "deleted": deleted,
            "unchanged": unchanged,
            "upserted": rows_out - unchanged,
        }
    spark.sparkContext.parallelize([json.dumps(report, default=str)], 1).saveAsTextFile(f"{output}/report")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: promote_spark.py <spec JSON | @spec.json>", file=sys.stderr)
        return 64
    spec = load_spec(args[0])
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName(f"zaloni-promote {spec['source']} -> {spec['target']}").getOrCreate()
    try:
        report = run(spark, spec)
    finally:
        spark.stop()
    print(json.dumps({k: report[k] for k in ("rows_in", "passed", "quarantined", "failures")}))
    return EXIT_THRESHOLD if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())

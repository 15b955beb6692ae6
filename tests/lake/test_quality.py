"""Rule semantics, checked by running each rule's SQL on DuckDB over small Arrow tables (no Airflow, no lake)."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pyarrow as pa
import pytest

from airflow_zaloni.lake.quality import (
    DUCKDB,
    SPARK,
    AllowedValues,
    Freshness,
    NotNull,
    Range,
    Regex,
    RowCount,
    RuleError,
    SqlPredicate,
    Unique,
    check_columns,
    parse_duration,
    parse_rules,
    rule_from_dict,
)

ROWS = pa.table(
    {
        "id": pa.array([1, 2, 2, None, 5, 6], pa.int64()),
        "amount": pa.array([10.0, -1.0, 0.0, 100.0, None, 100.5]),
        "status": pa.array(["NEW", "PAID", "paid", None, "VOID", "NEW"]),
        "email": pa.array(["a@x.org", "bad", None, "b@y.com", "c@z.io", "it's@q.org"]),
        "day": pa.array([dt.date(2026, 1, d) for d in (1, 2, 3, 4, 5, 6)]),
    }
)


def violating_ids(rule, table: pa.Table = ROWS) -> list[int]:
    """Row numbers (0-based) for which the rule's DuckDB SQL says the row breaks it."""
    con = duckdb.connect()
    con.register("t", table)
    sql = f"SELECT n FROM (SELECT row_number() OVER () - 1 AS n, {rule.violation_sql(DUCKDB)} AS v FROM t) WHERE v"
    return sorted(r[0] for r in con.execute(sql).fetchall())


def test_not_null_single_and_several_columns() -> None:
    assert violating_ids(NotNull(column="id")) == [3]
    assert violating_ids(NotNull(column=["id", "amount", "status"])) == [3, 4]


def test_unique_flags_every_row_of_a_duplicated_key_and_ignores_nulls() -> None:
    table = pa.table({"k": [1, 2, 2, None, None, 3], "j": ["a", "a", "b", "x", "x", "c"]})
    assert violating_ids(Unique(column="k"), table) == [1, 2]
    assert violating_ids(Unique(column=["k", "j"]), table) == []  # (2,a) and (2,b) differ; null keys unchecked


def test_range_inclusive_exclusive_and_null_passes() -> None:
    assert violating_ids(Range(column="amount", min=0, max=100)) == [1, 5]
    assert violating_ids(Range(column="amount", min=0, max=100, inclusive=False)) == [1, 2, 3, 5]
    assert violating_ids(Range(column="amount", max=0)) == [0, 3, 5]
    # ISO strings compare against a date column after DuckDB's cast.
    assert violating_ids(Range(column="day", min="2026-01-02", max="2026-01-05")) == [0, 5]


def test_allowed_values_is_case_sensitive_and_null_passes() -> None:
    assert violating_ids(AllowedValues(column="status", values=["NEW", "PAID"])) == [2, 4]


def test_regex_is_a_search_and_null_passes() -> None:
    assert violating_ids(Regex(column="email", pattern=r"^[^@\s']+@[a-z]+\.[a-z]{2,}$")) == [1, 5]
    assert violating_ids(Regex(column="status", pattern="A")) == [0, 2, 4, 5]  # 'PAID' contains A: a search


def test_sql_predicate_follows_check_semantics() -> None:
    rule = SqlPredicate(expression="amount * 2 < 150 AND status <> 'VOID'")
    # Row 3: 200 >= 150 fails; row 4: amount NULL -> NULL AND FALSE = FALSE -> fails; row 5: 201 fails.
    assert violating_ids(rule) == [3, 4, 5]
    assert violating_ids(SqlPredicate(expression="amount >= 0")) == [1]  # NULL amount passes


def test_quotes_in_values_and_column_names_are_escaped() -> None:
    table = pa.table({'we"ird col': ["it's", "x"]})
    assert violating_ids(AllowedValues(column='we"ird col', values=["it's"]), table) == [1]
    assert violating_ids(Regex(column='we"ird col', pattern="'s$"), table) == [1]


def test_dataset_rules_evaluate_aggregates() -> None:
    con = duckdb.connect()
    con.register("t", ROWS)
    count_rule = RowCount(min=7)
    (n,) = con.execute(f"SELECT {count_rule.aggregates(DUCKDB)[0]} FROM t").fetchone()
    assert count_rule.evaluate([n], None) == (False, {"rows": 6, "min": 7, "max": None})
    assert RowCount(min=1, max=6).evaluate([n], None)[0]

    fresh = Freshness(column="day", max_age="2d")
    (newest,) = con.execute(f"SELECT {fresh.aggregates(DUCKDB)[0]} FROM t").fetchone()
    # 2026-01-06 counts as fresh until the end of that day: 2026-01-07 00:00.
    ok, details = fresh.evaluate([newest], dt.datetime(2026, 1, 9, tzinfo=dt.timezone.utc))
    assert ok and details["age_seconds"] == 2 * 86400
    assert not fresh.evaluate([newest], dt.datetime(2026, 1, 9, 0, 0, 1, tzinfo=dt.timezone.utc))[0]
    assert not fresh.evaluate([None], dt.datetime(2026, 1, 9))[0]  # no value at all is not fresh


def test_rules_round_trip_through_json() -> None:
    rules = [
        NotNull(column=["id", "amount"]),
        Unique(column="id", max_failed_rows=3),
        Range(column="amount", min=0, max=1e6, name="amount_ok"),
        AllowedValues(column="status", values=["NEW", "PAID"], action="warn"),
        Regex(column="email", pattern=r"@", max_failed_fraction=0.1),
        SqlPredicate(expression="amount > 0"),
        RowCount(min=1),
        Freshness(column="day", max_age="36h", action="warn"),
    ]
    specs = json.loads(json.dumps([r.to_dict() for r in rules]))
    again = parse_rules(specs)
    assert [r.to_dict() for r in again] == [r.to_dict() for r in rules]
    assert [type(r) for r in again] == [type(r) for r in rules]
    assert again[2].name == "amount_ok" and again[3].action == "warn"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"rule": "nonsense", "column": "x"}, "unknown rule 'nonsense'"),
        ({"column": "x"}, "unknown rule None"),
        ({"rule": "not_null", "colum": "x"}, "unknown field(s) ['colum']"),
        ({"rule": "not_null"}, "missing 1 required keyword-only argument: 'column'"),
        ({"rule": "range", "column": "x"}, "give min, max or both"),
        ({"rule": "range", "column": "x", "min": [1]}, "is not a number, date or string"),
        ({"rule": "regex", "column": "x", "pattern": "(unclosed"}, "invalid regular expression"),
        ({"rule": "allowed_values", "column": "x", "values": []}, "values must not be empty"),
        ({"rule": "allowed_values", "column": "x", "values": "abc"}, "values must be a list"),
        ({"rule": "sql", "expression": "x > 1; DROP TABLE y"}, "without ';'"),
        ({"rule": "not_null", "column": "x", "action": "explode"}, "action must be one of"),
        ({"rule": "row_count", "min": 1, "action": "quarantine"}, "cannot quarantine rows"),
        ({"rule": "not_null", "column": "x", "max_failed_fraction": 2}, "between 0 and 1"),
        ({"rule": "not_null", "column": "x", "max_failed_rows": "many"}, "must be an integer"),
        ({"rule": "freshness", "column": "x", "max_age": "soon"}, "cannot read duration 'soon'"),
        ("not a dict", "a rule is a dict"),
    ],
)
def test_bad_rule_definitions_name_the_rule_and_the_field(spec, message) -> None:
    with pytest.raises(RuleError) as err:
        parse_rules([{"rule": "not_null", "column": "ok"}, spec])
    assert message in str(err.value)
    assert "rules[1]" in str(err.value)


def test_duplicate_rule_names_are_refused() -> None:
    with pytest.raises(RuleError, match="two rules are named 'not_null\\(id\\)'"):
        parse_rules([{"rule": "not_null", "column": "id"}, NotNull(column="id")])


def test_missing_column_names_rule_dataset_and_columns() -> None:
    with pytest.raises(RuleError) as err:
        check_columns([Range(column="amout", min=0)], ROWS.column_names, dataset="raw/sys/orders dt=2026-01-01")
    assert "'range(amout)'" in str(err.value) and "raw/sys/orders dt=2026-01-01" in str(err.value)
    assert "amount" in str(err.value)


def test_thresholds() -> None:
    rule = rule_from_dict({"rule": "not_null", "column": "id", "max_failed_fraction": 0.1})
    assert rule.check_failures(10, 100) is None
    assert "11 of 100 rows (11.00%)" in (rule.check_failures(11, 100) or "")
    assert NotNull(column="id", action="fail").check_failures(1, 100)
    assert NotNull(column="id", max_failed_rows=0).check_failures(1, 100)
    assert NotNull(column="id").check_failures(100, 100) is None  # quarantine without a threshold never fails


@pytest.mark.parametrize(
    ("text", "seconds"), [("36h", 129600), ("1d12h", 129600), ("90m", 5400), (45, 45), ("2w", 1209600), ("30", 30)]
)
def test_durations(text, seconds) -> None:
    assert parse_duration(text) == seconds


def test_spark_dialect_quotes_and_escapes_for_spark_sql() -> None:
    # Spark string literals interpret backslashes, so a regex's backslash must be doubled; identifiers use backticks.
    sql = Regex(column="e`mail", pattern=r"^\d+'x$").violation_sql(SPARK)
    assert sql == "COALESCE(NOT (`e``mail` RLIKE '^\\\\d+\\'x$'), FALSE)"
    assert "filter(array(" in SPARK.non_null_array(["'a'"])

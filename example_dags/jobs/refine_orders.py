"""PySpark job of the ``zaloni_spark_job`` example: raw orders -> revenue per customer (refined zone).

Usage: ``refine_orders.py <raw partition folder> <output folder>``. It writes Parquet into the output folder,
which the SparkJobOperator points at the lake's staging area and commits once the job has succeeded.
"""

from __future__ import annotations

import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def main(source: str, target: str) -> None:
    spark = SparkSession.builder.appName("zaloni-refine-orders").getOrCreate()
    try:
        orders = spark.read.parquet(source)
        revenue = orders.groupBy("customer").agg(
            F.count("*").alias("orders"),
            F.sum("amount").alias("revenue"),
        )
        revenue.coalesce(1).write.mode("overwrite").parquet(target)
    finally:
        spark.stop()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: refine_orders.py <raw partition folder> <output folder>")
    main(sys.argv[1], sys.argv[2])

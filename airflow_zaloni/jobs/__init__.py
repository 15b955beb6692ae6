"""The WFE's core shared by the job operators, sensors and triggers (Spark, Hadoop/YARN).

* :mod:`.status` -- how a job's status comes home: log lines, XCom, the tracking link, the failure message, and the
  wait on a trigger (deferred or in the task);
* :mod:`.output` -- a lake partition that an external job writes and the operator commits (Airflow-free).

The clients that ask the clusters are the hooks (:mod:`airflow_zaloni.hooks.yarn`, :mod:`airflow_zaloni.hooks.spark`).
This package imports nothing by itself, so :mod:`.output` stays importable without Airflow.
"""

"""LakeDatasetSensor: wait until a lake dataset's partition for the run's interval is committed."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout

from airflow_zaloni import config
from airflow_zaloni.lake import DatasetRef, partition_of_run, validate_partition
from airflow_zaloni.triggers.lake import LakeDatasetTrigger, committed_partition

if TYPE_CHECKING:
    from airflow.sdk import Context


class LakeDatasetSensor(BaseSensorOperator):
    """Wait until ``<zone>/<system>/<dataset>`` has a committed partition for the run's data interval.

    A partition counts once its commit is complete (the table's current snapshot holds it; for a dataset that is not
    a table, its manifest is published), so what follows never sees a partial partition. Deferrable by default:
    the wait runs in the triggerer and holds no worker slot. The XCom value is ``{"dataset", "partition", "rows",
    "txn_id", "run_id"}`` of the commit found, plus ``snapshot_id`` for a table.

    :param dataset: name of the dataset. (templated)
    :param system: source-system folder of the dataset. (templated)
    :param zone: zone of the dataset, ``raw`` by default. (templated)
    :param partition: partition to wait for; by default the one derived from the run's data interval (the same
        rule every writer uses). (templated)
    :param lake_root: root URI of the lake; defaults to ``[zaloni] lake_root``. (templated)
    :param lake_conn_id: Airflow connection of the lake's store (an ``aws`` connection for ``s3://`` roots);
        defaults to ``[zaloni] lake_conn_id``. (templated)
    :param deferrable: wait in the triggerer (default) instead of poking from a worker.
    """

    template_fields: Sequence[str] = ("dataset", "system", "zone", "partition", "lake_root", "lake_conn_id")
    ui_color = "#fcf3cf"

    def __init__(
        self,
        *,
        dataset: str,
        system: str,
        zone: str = "raw",
        partition: str | None = None,
        lake_root: str | None = None,
        lake_conn_id: str | None = None,
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.system = system
        self.zone = zone
        self.partition = partition
        self.lake_root = lake_root
        self.lake_conn_id = lake_conn_id
        self.deferrable = deferrable

    def _target(self, context: Context) -> tuple[str, str | None, DatasetRef, str]:
        """Root, connection, dataset and partition waited for (resolved here: the triggerer reads no config)."""
        ref = DatasetRef(self.zone, self.system, self.dataset)
        partition = self.partition or partition_of_run(context)
        root = self.lake_root or config.lake_root()
        return root, config.lake_conn_id(root, self.lake_conn_id), ref, validate_partition(partition)

    def poke(self, context: Context) -> bool | Any:
        root, conn_id, ref, partition = self._target(context)
        found = committed_partition(root, ref.zone, ref.system, ref.name, partition, conn_id)
        if found is None:
            self.log.info("Waiting for %s %s in %s", ref, partition, root)
            return False
        from airflow.sdk import PokeReturnValue

        return PokeReturnValue(is_done=True, xcom_value=found)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        root, conn_id, ref, partition = self._target(context)
        found = committed_partition(root, ref.zone, ref.system, ref.name, partition, conn_id)
        if found is not None:
            self.log.info("%s %s is already committed", ref, partition)
            return found
        self.log.info("Deferring until %s %s is committed in %s", ref, partition, root)
        self.defer(
            trigger=LakeDatasetTrigger(
                lake_root=root,
                lake_conn_id=conn_id,
                zone=ref.zone,
                system=ref.system,
                name=ref.name,
                partition=partition,
                poll_interval=float(self.poke_interval),
                deadline=time.time() + float(self.timeout),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout)),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        if not event:
            raise AirflowException("the lake trigger ended without an event")
        if event.get("status") == "committed":
            return event["partition"]
        if event.get("status") == "timeout":
            raise AirflowSensorTimeout(event.get("message", "timed out"))
        raise AirflowException(f"unexpected event from the lake trigger: {event}")

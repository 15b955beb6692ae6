"""Extra links of the job operators and sensors: a button on the task that opens the job's tracking UI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

#: XCom key under which job operators and sensors push the tracking URL as soon as they know it.
TRACKING_URL_KEY = "tracking_url"


class JobTrackingLink(BaseOperatorLink):
    """The YARN application page (ResourceManager UI / proxy) or the Spark master UI of the task's job."""

    name = "Job tracking UI"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        url = XCom.get_value(ti_key=ti_key, key=TRACKING_URL_KEY)
        return str(url) if url else ""

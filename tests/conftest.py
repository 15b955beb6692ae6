"""Session set-up shared by every test: a private Airflow home with a SQLite metadata DB.

The environment is set before anything imports Airflow, so no test ever touches a real ``~/airflow``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from tests.servers.hadoop import hadoop_cluster, kerberized_hadoop  # noqa: F401  (fixtures of the real Hadoop)

REPO = Path(__file__).resolve().parents[1]
_HOME = Path(tempfile.mkdtemp(prefix="zaloni-airflow-home-"))
_DAGS = _HOME / "dags"
_DAGS.mkdir()

os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_DAGS)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME / 'airflow.db'}"
os.environ["AIRFLOW__ZALONI__LAKE_ROOT"] = str(_HOME / "lake")
os.environ["AIRFLOW__ZALONI__PROGRESS_INTERVAL_SECONDS"] = "1"
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# As in an activated virtualenv: its tools (spark-submit, airflow, zaloni) are found on PATH.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


from tests.servers.s3 import s3_server  # noqa: E402, F401  (session fixture: a moto_server S3)
from tests.servers.spark_iceberg import spark_iceberg  # noqa: E402, F401  (session fixture: Spark SQL + Iceberg)


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    return _HOME


@pytest.fixture(scope="session")
def dags_folder() -> Path:
    return _DAGS


@pytest.fixture(scope="session")
def airflow_db(airflow_home: Path) -> Path:
    """A migrated metadata DB for the session (about 4 s once)."""
    from airflow.utils import db

    db.resetdb()
    return airflow_home / "airflow.db"


@pytest.fixture
def lake_root(tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    root.mkdir()
    return root


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)

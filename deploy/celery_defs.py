"""The llmfeedback code location with every step executed by Celery workers.

    dagster asset materialize -m deploy.celery_defs -c deploy/celery/celery.yaml \
        --select judgments --partition <judge>

Workers (`dagster-celery worker start -A dagster_celery.app -y deploy/celery/celery.yaml`) must import
this module, so they run from the repo root (or with it on PYTHONPATH), and the instance must be shared
storage (deploy/postgres/dagster.yaml): each worker reads the run and writes its events there.
"""

from __future__ import annotations

import dagster as dg
from dagster_celery import celery_executor

from llmfeedback_assets import definitions as _project

defs = dg.Definitions.merge(_project.defs, dg.Definitions(executor=celery_executor))

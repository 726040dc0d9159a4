"""Weekly retraining: every registered dataset's ``spectra`` is materialised again (re-read and
re-validated), and the sensors retrain everything downstream of it (``nirs_results_sensor`` the
results of every config, declarative automation the leaderboard, datasheet and bundle)."""

import dagster as dg

from nirs_dagster.assets.data import spectra
from nirs_dagster.partitions import dataset_partitions

__all__ = ["retrain_job", "weekly_retrain_schedule"]

retrain_job = dg.define_asset_job("retrain_job", selection=[spectra])


@dg.schedule(
    name="weekly_retrain_schedule",
    job=retrain_job,
    cron_schedule="0 3 * * 1",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def weekly_retrain_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    """Monday 03:00 UTC: one run per dataset."""
    week = context.scheduled_execution_time.strftime("%G-W%V")
    return [
        dg.RunRequest(run_key=f"retrain:{week}:{key}", partition_key=key)
        for key in context.instance.get_dynamic_partitions(dataset_partitions.name)
    ]

"""The API's response models describe exactly what the library's reports contain."""

from __future__ import annotations

from dispatcher.api.models import CampaignProgress, DryRunBody, SubmitReportBody
from dispatcher.dry_run import DryRunReport
from dispatcher.producer import SubmitReport
from dispatcher.progress import compute_progress


def test_the_submit_report_model_has_every_field_of_the_report() -> None:
    assert set(SubmitReportBody.model_fields) == set(SubmitReport(None, "refused").as_dict())


def test_the_dry_run_model_has_every_field_of_the_estimate() -> None:
    assert set(DryRunBody.model_fields) == set(DryRunReport().as_dict())


def test_the_progress_model_has_every_field_of_the_progress() -> None:
    progress = compute_progress({"id": "c", "status": "running"}, {"pending": 1}, 1000)
    assert set(CampaignProgress.model_fields) == set(progress.as_dict())

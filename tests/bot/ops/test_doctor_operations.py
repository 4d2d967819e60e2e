"""`qc-bot doctor` on the operating variables: QC_LOG_FORMAT is checked, QC_METRICS_TOKEN never shown."""

from __future__ import annotations

from bot.ops.doctor import diagnose, report


async def test_doctor_checks_the_log_format_and_masks_the_metrics_token():
    token = "metrics-token-for-doctor-0123456789"
    text, status = report(await diagnose(values={"QC_LOG_FORMAT": "xml", "QC_METRICS_TOKEN": token}))
    assert status == 1
    assert "FAIL  QC_LOG_FORMAT: expected text or json" in text
    assert "OK    QC_METRICS_TOKEN: set (••••••••" in text and token not in text


async def test_doctor_refuses_a_guessable_metrics_token():
    text, _ = report(await diagnose(values={"QC_METRICS_TOKEN": "short"}))
    assert "FAIL  QC_METRICS_TOKEN: expected at least 16 printable ASCII characters" in text
    assert "short" not in text.replace("FAIL  QC_METRICS_TOKEN", "")

"""The chain's last verify result, kept for whoever asks how the log looked when last checked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from service.chain import VerifyReport


@dataclass
class LastVerify:
    report: VerifyReport | None = None
    finished_at: datetime | None = None

    def record(self, report: VerifyReport) -> None:
        self.report = report
        self.finished_at = datetime.now(UTC)

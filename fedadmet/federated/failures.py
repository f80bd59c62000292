"""A partner's failure as a typed record (partner, stage, reason) that crosses the wire intact.

The ClientApp answers a failed message with a Flower error reply whose code is
:data:`PARTNER_FAILURE_CODE` and whose reason is the record as JSON; Flower hands the coordinator's
workflow that error object (``Exception(message.error)``), so the strategy reads the record back field
by field. Reasons lose local paths before they leave the partner: they say nothing the coordinator
needs and may reveal a site's layout.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from flwr.app import Error

PARTNER_FAILURE_CODE = 7001  # beside Flower's own ErrorCode values (0-8)
UNNAMED = "unnamed partner"
_LOCAL_PATH = re.compile(r"(?<![\w.])(?:[A-Za-z]:)?[/\\][^\s'\",;:)]+")


@dataclass(frozen=True)
class PartnerFailure:
    partner: str
    stage: str  # the message type that failed: "train" (SecAgg+ stages included) or "evaluate"
    reason: str  # "<ExceptionType>: <message>", without local paths

    @classmethod
    def of(cls, partner: str, stage: str, error: BaseException, data_dir: str = "") -> PartnerFailure:
        reason = f"{type(error).__name__}: {error}"
        for folder in filter(None, {data_dir, str(Path(data_dir).resolve()) if data_dir else ""}):
            reason = reason.replace(folder, "<data-dir>")
        return cls(partner, stage, " ".join(_LOCAL_PATH.sub("<local path>", reason).split()))

    def to_error(self) -> Error:
        return Error(code=PARTNER_FAILURE_CODE, reason=json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> PartnerFailure:
        return cls(str(record["partner"]), str(record["stage"]), str(record["reason"]))


def failures_by_partner(failures: list[Any], stage: str) -> dict[str, PartnerFailure]:
    """The failures a legacy strategy receives, by partner: records a partner sent, replies with a failed
    status (named by their metrics), and nodes that said nothing of themselves (each counts once). SecAgg+
    may report one partner at several stages: it counts once."""
    found: dict[str, PartnerFailure] = {}
    for failure in failures:
        if isinstance(failure, tuple):
            proxy, res = failure
            name = str(res.metrics.get("partner", f"node {proxy.node_id}"))
            found.setdefault(name, PartnerFailure(name, stage, f"{res.status.code.name}: {res.status.message}"))
            continue
        error = failure.args[0] if isinstance(failure, Exception) and failure.args else None
        if isinstance(error, Error) and error.code == PARTNER_FAILURE_CODE:
            record = PartnerFailure.from_dict(json.loads(error.reason))
            found.setdefault(record.partner, record)
        else:  # a node that timed out or lost its connection says nothing about itself
            name = f"{UNNAMED} {sum(key.startswith(UNNAMED) for key in found) + 1}"
            reason = f"{error.reason}" if isinstance(error, Error) else f"{type(failure).__name__}: {failure}"
            found[name] = PartnerFailure(name, stage, reason[-300:])
    return found

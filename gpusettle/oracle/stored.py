"""Reading a stored receipt back, one row at a time: a row that no longer parses (written by an older
version, edited by hand, damaged) is reported with a reason so the caller can reject it and go on
with the others, instead of failing every round on the same row."""

from __future__ import annotations

from pydantic import ValidationError

from ..errors import GpusettleError
from ..models import SignedReceipt
from .store import StoredReceipt
from .verify import ReceiptSubmission

__all__ = ["UnreadableReceiptError", "signed_of"]


class UnreadableReceiptError(GpusettleError):
    """A stored receipt's body does not parse as a receipt submission."""

    def __init__(self, job_id: int, detail: str) -> None:
        self.job_id = job_id
        self.reason = f"the stored receipt cannot be read ({detail}); submit it again"
        super().__init__(f"job {job_id}: {self.reason}")


def signed_of(stored: StoredReceipt) -> SignedReceipt:
    """The signed receipt a stored row holds, or UnreadableReceiptError saying why not."""
    try:
        return ReceiptSubmission.model_validate_json(stored.body).signed()
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_context=False, include_input=False)[:1]
        where = ".".join(str(p) for p in first[0].get("loc", ())) if first else ""
        detail = f"{where + ': ' if where else ''}{first[0].get('msg') if first else exc}"
        raise UnreadableReceiptError(stored.job_id, detail) from None
    except (ValueError, TypeError) as exc:
        raise UnreadableReceiptError(stored.job_id, str(exc)) from None

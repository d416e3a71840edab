"""The scan verdict (pure): clamd's reply, or what broke, -> clean | infected | unscanned."""
from __future__ import annotations

import re
from typing import Any

_FOUND = re.compile(r"^(?:stream|[^:]*): (.+) FOUND$")


def decide_verdict(reply: str | None, error: str | None, size: int, max_bytes: int, sent: int) -> dict[str, Any]:
    """clamd's reply (or what broke) and how many of the file's `size` bytes were `sent`
    -> verdict fields. Pure; nothing unclear is clean: OK means clean only for the whole file."""
    if size > max_bytes:
        return {"verdict": "unscanned", "reason": "too_large",
                "message": f"{size} bytes is over the scan limit of {max_bytes} bytes; it was not sent to ClamAV"}
    if reply is None:
        return {"verdict": "unscanned", "reason": "stream_broken",
                "message": f"the stream to clamd broke before a verdict ({error or 'no reply'})"}
    if reply.endswith("OK") and reply.split(":", 1)[-1].strip() == "OK":
        if sent != size:  # clamd vouches only for what it got; the file was cut or grew while read
            return {"verdict": "unscanned", "reason": "incomplete_stream",
                    "message": f"clamd answered OK for {sent} of the file's {size} bytes; the rest was never scanned"}
        return {"verdict": "clean"}
    if "size limit exceeded" in reply:
        return {"verdict": "unscanned", "reason": "too_large",
                "message": f"clamd refused the stream: {reply}"}
    m = _FOUND.match(reply)
    if m:
        sig = m.group(1)
        if sig.startswith("Heuristics.Limits.Exceeded"):
            return {"verdict": "unscanned", "reason": "limits_exceeded", "signature": sig,
                    "message": f"ClamAV could not look at all of it ({sig}): a scan limit was reached"}
        if sig.startswith("Heuristics.Encrypted"):
            return {"verdict": "unscanned", "reason": "encrypted", "signature": sig,
                    "message": f"encrypted content ClamAV cannot inspect ({sig})"}
        return {"verdict": "infected", "signature": sig, "message": f"ClamAV found {sig}"}
    return {"verdict": "unscanned", "reason": "scan_error", "message": f"clamd answered: {reply}"}

"""One-time codes (TOTP, RFC 6238) for hub admins' logins, computed with pyotp.

Keycloak accepts each code once (its OTP policy: codes are not reusable), and tests log the
same admin in several times a minute, across pytest processes. So each code handed out is
recorded (a small file next to the stack's secrets), and a later login gets the next time
step's code (Keycloak's look-ahead window accepts one step ahead) or waits for a fresh step.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pyotp
from filelock import FileLock

from stackconf.settings import REPO

USED = REPO / ".state" / "test-totp-used.json"
STEP = 30  # seconds: Keycloak's default OTP period, and the demo credentials' (idp/)


def one_time_code(secret: str, used_file: Path = USED) -> str:
    """A code for ``secret`` that no login has used yet."""
    totp = pyotp.TOTP(secret, interval=STEP)
    key = hashlib.sha256(secret.encode()).hexdigest()[:16]  # names the secret, hides it
    with FileLock(f"{used_file}.lock"):
        used = json.loads(used_file.read_text()) if used_file.exists() else {}
        step = max(int(time.time() // STEP), int(used.get(key, 0)) + 1)
        # Keycloak takes the next step's code too (its look-ahead window of one step): wait
        # until the step before ``step`` has begun.
        time.sleep(max(0.0, (step - 1) * STEP - time.time() + 0.5))
        used[key] = step
        used_file.write_text(json.dumps(used))
    return totp.at(step * STEP)

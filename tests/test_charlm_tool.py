"""tools/charlm.py (make charlm) runs end to end and prints its summary as the last line."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_last_line_reports_loss_seconds_steps_and_time_to_target():
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "charlm.py"), "--seconds", "1", "--hidden-size",
         "8", "--embedding-size", "4", "--threads", "1", "--target", "9.0", "--eval-every",
         "100000"],
        capture_output=True, text=True, check=True, timeout=300, cwd=ROOT)
    last = out.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"val_loss_nats=(\S+) seconds=(\S+) steps=(\d+) seconds_to_9.0=(\S+)",
                         last)
    assert match, last
    loss, seconds, steps, to_target = match.groups()
    assert 0 < float(loss) < 9.0  # below the target, so the time to it is a number
    assert 1.0 <= float(seconds) < 5.0
    assert int(steps) >= 1
    assert float(to_target) <= float(seconds)

"""Child process for the kill -9 test: the core's bus + recorder at full rate.

Prints ``written N`` after every committed batch so the parent knows what
must survive. Run: python -m tests.appliance.crash_writer DB_PATH
"""

from __future__ import annotations

import sys
import threading
import time

from appliance.bus import Bus
from appliance.recorder import Recorder
from drivers.samples import Sample


def main(db_path: str) -> None:
    bus = Bus()
    rec = Recorder(db_path, bus.subscribe_queue("recorder"), batch_interval_s=0.05)
    rec.start()

    def produce() -> None:
        # Full rate, bounded so twenty rounds stay a small file.
        for i in range(100_000):
            now = time.time_ns()
            for name in ("spindle_speed", "motor_current", "temperature", "part_count"):
                bus.publish(Sample(name, float(i), utc_ns=now))

    threading.Thread(target=produce, daemon=True).start()
    last = 0
    while True:
        if rec.written != last:
            last = rec.written
            print(f"written {last}", flush=True)
        time.sleep(0.005)


if __name__ == "__main__":
    main(sys.argv[1])

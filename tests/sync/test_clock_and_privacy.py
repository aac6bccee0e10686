"""The wall clock stepped +-1 year and reset to 1970 between sends; and what
leaves the box: marker strings in every free-text place stay on the box."""

from __future__ import annotations

import socket
import sqlite3
import threading
from pathlib import Path

from .conftest import Clock, box_config
from .helpers import DAY, HOUR_NS, T0, box_hours, contiguous, fill, hub_batches, hub_hours, make_box

YEAR = 365 * DAY


def test_clock_jumps_change_neither_order_nor_deduplication(hub_db_url: str, hub_factory, tmp_path: Path) -> None:
    hub = hub_factory(hub_db_url).start()
    token = hub.cli("token", "create", "cel-1")
    cfg = box_config(tmp_path / "box", url=hub.url)
    fill(cfg, 4)
    clock = Clock(T0 - 4 * DAY)
    ob, client = make_box(cfg, token, clock)
    sent: list[int] = []

    def push(**kw: bool) -> None:
        sent.extend(s.seq for s in client.push(**kw).sent if s.outcome == "delivered")

    for _ in range(30):  # a day and a bit, normally
        clock.advance(3600)
        push()
    real = clock.now
    hub.kill()
    clock.now = real + YEAR  # NTP gone mad: a year ahead, hub away -> backoff set a year ahead
    push()
    assert client.outbox.get_state("backoff")
    hub.start()
    clock.now = 0  # 1970: a Pi without RTC before NTP
    push(respect_backoff=True)
    clock.now = real - YEAR
    push(respect_backoff=True)
    clock.now = real + 3 * DAY  # back to (later) normal time
    push(respect_backoff=True)
    push(respect_backoff=True)

    assert sent == sorted(sent) and len(sent) == len(set(sent))
    held = hub_batches(hub_db_url)
    assert contiguous([s for _, s, _ in held]) and [s for _, s, _ in held] == [b.seq for b in ob.batches()]
    assert all(b.state == "delivered" for b in ob.batches())
    assert hub_hours(hub_db_url) == box_hours(ob, T0 - 4 * DAY, T0)


class RecordingProxy:
    """A TCP sink in front of the hub that keeps every byte the box sends."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.captured = bytearray()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        try:
            while data := src.recv(65536):
                if record:
                    with self.lock:
                        self.captured += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


MARKERS = {
    "box": "zzboxmarker",
    "company": "ZZ-COMPANY-Metaal-Jansen-BV",
    "stop": "ZZ-STOP-COMMENT-spindle-seized",
    "alert": "ZZ-ALERT-COMMENT-false-alarm-cleaning",
    "alert_title": "ZZ-ALERT-DETAIL-recipe-4711",
    "period": "ZZ-PERIOD-NOTE-new-press",
    "step": "ZZ-STEP-NOTE-ask-Piet",
}


def test_no_free_text_leaves_the_box(hub_db_url: str, hub_factory, tmp_path: Path) -> None:
    import sqlite_utils

    from appliance.alerts import AlertStore
    from appliance.kpi.commands import assign_reason, mark_period
    from appliance.kpi.queries import list_stops
    from appliance.kpi.reasons import ReasonTree
    from appliance.storage import set_setting
    from content.progress import save_check, set_progress

    hub = hub_factory(hub_db_url).start()
    token = hub.cli("token", "create", "cel-1")
    proxy = RecordingProxy(hub.port)
    cfg = box_config(tmp_path / "box", url=f"http://127.0.0.1:{proxy.port}", box_name=MARKERS["box"])
    fill(cfg, 3)
    clock = Clock(T0 - 3 * DAY)
    ob, client = make_box(cfg, token, clock, consent="kpi+check")
    db = sqlite_utils.Database(ob.conn)
    set_setting(db, "company.name", MARKERS["company"])
    tree = ReasonTree.from_config(cfg.machine)
    for stop in list_stops(ob.conn, start_ns=T0 - 3 * DAY, end_ns=T0)[:5]:
        assign_reason(ob.conn, stop_id=stop.id, reason="breakdown.mechanical", role="operator", calendar=ob.calendar,
                      tree=tree, comment=MARKERS["stop"])
    alerts = AlertStore(ob.conn)
    for i in range(3):
        aid = alerts.raise_alert(source="guard", kind="guard.trip", severity="warning", dedupe_key=f"guard.trip.r{i}",
                                 title=MARKERS["alert_title"], detail=MARKERS["alert_title"],
                                 ts_ns=T0 - DAY + i * HOUR_NS)
        alerts.label(aid, "false", role="maintenance", comment=MARKERS["alert"])
    mark_period(ob.conn, kind="pilot", start_ns=T0 - DAY, end_ns=T0, role="coordinator", note=MARKERS["period"])
    set_progress(db, "any-step", "busy", note=MARKERS["step"])
    from content.loader import load_library

    save_check(db, {st.id: 4 for st in load_library().statements()}, share_scores=True)

    while clock.now < T0 + 2 * HOUR_NS:
        clock.advance(3600)
        client.push()
    proxy.close()

    assert hub_batches(hub_db_url) and b"POST /api/v1/batches" in proxy.captured
    assert b'"check":{"scores":{' in proxy.captured  # kpi+check: the domain scores do go
    box_dump = "\n".join(sqlite3.connect(cfg.db_path).iterdump())
    assert all(m in box_dump for k, m in MARKERS.items() if k != "box"), "the test must fill every marker"
    sent = bytes(proxy.captured)
    hub_text = _hub_dump(hub_db_url)
    for name, marker in MARKERS.items():
        assert marker.encode() not in sent, f"{name} marker left the box"
        assert marker.lower() not in sent.decode("latin-1").lower()
        assert marker not in hub_text, f"{name} marker is at the hub"


def _hub_dump(url: str) -> str:
    from sync.hub.db import Database

    db = Database(url)
    try:
        with db.tx() as c:
            out = []
            for table in ("hub_tokens", "hub_loans", "hub_batches", "hub_periods", "hub_alerts", "hub_idem"):
                out += [repr(r) for r in c.all(f"SELECT * FROM {table}")]
        return "\n".join(out)
    finally:
        db.close()

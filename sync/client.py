"""Sending the outbox to the programme hub.

In seq order, one request at a time: ``POST {url}/api/v1/batches`` with the
frozen bytes, ``Authorization: Bearer <token>`` and ``Idempotency-Key:
<loan>:<seq>``. The hub answers with the highest contiguous seq it holds for
the loan; everything up to it is delivered. Order comes from seq, never from
the wall clock.

Answers (see the README's sync section):
- 2xx: delivered (and every batch up to ``highest_contiguous_seq``).
- 401/403: the token is wrong or revoked: an alert, back off, nothing quarantined.
- 408/409/425/429 and 5xx, refused connections, timeouts, TLS errors: back
  off with full jitter (30 s doubling up to 6 h), honouring ``Retry-After``.
- any other 4xx: the hub will never take this batch: quarantine + alert, and
  the later batches still flow.

TLS verification is always on (``[sync] ca_file`` pins the programme's CA);
plain http is used only for a loopback address (the config refuses others).
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from appliance.errors import ConfigError, WerkvloerError
from drivers.backoff import Backoff

from .outbox import NS, Outbox
from .schema import Receipt

log = logging.getLogger(__name__)

BACKOFF_MIN_S = 30.0
BACKOFF_MAX_S = 6 * 3600.0
TIMEOUT_S = 30.0
RETRY_LATER = {408, 409, 425, 429}


class SyncNotConfigured(WerkvloerError, ValueError):
    """[sync] url or the token is missing."""


@dataclass
class Sent:
    seq: int
    status: int | None
    outcome: str  # delivered / quarantined / retry / auth
    detail: str = ""


@dataclass
class PushResult:
    consent: str
    sealed: int = 0
    sent: list[Sent] = field(default_factory=list)
    skipped_backoff_s: float | None = None
    retry_in_s: float | None = None

    @property
    def refused(self) -> bool:
        return any(s.outcome in ("quarantined", "auth") for s in self.sent)


def backoff_delay(attempt: int, *, retry_after_s: float | None = None, rng: random.Random | None = None) -> float:
    """Full jitter (AWS architecture blog, 'Exponential Backoff And Jitter'):
    uniform in [30 s, min(6 h, 30 s * 2**(attempt-1))]; never shorter than Retry-After."""
    r = rng or random
    bounded = Backoff(BACKOFF_MIN_S, BACKOFF_MAX_S)  # the capped exponent (no overflow after weeks offline)
    bounded.failures = max(attempt, 1)
    delay = r.uniform(BACKOFF_MIN_S, bounded.peek())
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, BACKOFF_MAX_S))
    return delay


def parse_retry_after(value: str | None, now_s: float) -> float | None:
    """RFC 9110 10.2.3: delay-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now_s, 0.0)


class Transport:
    """One keep-alive HTTPS (or loopback http) connection to the hub."""

    def __init__(self, url: str, *, ca_file: str | None = None, timeout_s: float = TIMEOUT_S) -> None:
        u = urlsplit(url)
        if u.scheme == "http" and u.hostname not in ("127.0.0.1", "::1", "localhost"):
            raise ConfigError([("sync.url", "plain http:// is accepted only for a loopback address; use https://")])
        self.scheme, self.host, self.port = u.scheme, u.hostname or "", u.port
        self.path = (u.path.rstrip("/") or "") + "/api/v1/batches"
        self.timeout_s = timeout_s
        self.ctx: ssl.SSLContext | None = None
        if self.scheme == "https":
            # Verification is always on; ca_file pins the programme's CA instead of the system store.
            self.ctx = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
        self._conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.ctx is not None:
                self._conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout_s, context=self.ctx)
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        return self._conn

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        reused = self._conn is not None
        try:
            return self._post_once(body, headers)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # A kept-alive connection the server closed while idle (RFC 9112 9.3.1): send
            # once more on a new one. Safe: the Idempotency-Key makes the POST idempotent.
            if not reused:
                raise
            return self._post_once(body, headers)

    def _post_once(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        conn = self._connect()
        try:
            conn.request("POST", self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except BaseException:
            self.close()
            raise
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        return resp.status, hdrs, data

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class SyncClient:
    def __init__(self, outbox: Outbox, *, token: str, transport: Transport,
                 rng: random.Random | None = None, wall: Callable[[], int] | None = None) -> None:
        self.outbox = outbox
        self.token = token
        self.transport = transport
        self.rng = rng or random.Random()
        self.clock = wall or outbox.clock

    @classmethod
    def from_config(cls, outbox: Outbox, secrets: dict[str, str], **kw: object) -> SyncClient:
        s = outbox.cfg.sync
        if not s.url:
            raise SyncNotConfigured("[sync] url is not set; put the programme hub's https:// address in the config")
        token = secrets.get(s.token_secret)
        if not token:
            raise SyncNotConfigured(f"no {s.token_secret!r} in the secrets file; ask the programme for this box's "
                                    f"token and add: {s.token_secret} = \"...\"")
        return cls(outbox, token=token, transport=Transport(s.url, ca_file=s.ca_file), **kw)  # type: ignore[arg-type]

    # -------------------------------------------------------- backoff state
    def backoff_remaining_s(self) -> float | None:
        b = self.outbox.get_state("backoff")
        if not b:
            return None
        now = self.clock()
        # A clock that went back (or jumped far ahead when the backoff was set) must
        # not stall sync: wait at most the remaining backoff measured from a sane 'set_at'.
        if now < b["set_at"]:
            return None
        left = (b["not_before"] - now) / NS
        if left <= 0 or left > BACKOFF_MAX_S:
            return None
        return left

    def _back_off(self, retry_after_s: float | None) -> float:
        b = self.outbox.get_state("backoff") or {"n": 0}
        n = int(b.get("n", 0)) + 1
        delay = backoff_delay(n, retry_after_s=retry_after_s, rng=self.rng)
        now = self.clock()
        with self.outbox.tx() as c:
            self.outbox.set_state(c, "backoff", {"n": n, "set_at": now, "not_before": now + int(delay * NS)})
        return delay

    # -------------------------------------------------------- sending
    def interval_remaining_s(self) -> float | None:
        """Seconds until ``[sync] interval_min`` has passed since the last run (None = due).
        A clock that went back makes the run due (order never depends on the clock)."""
        last = self.outbox.get_state("last_run_ts")
        if last is None:
            return None
        now = self.clock()
        left = (last + self.outbox.cfg.sync.interval_min * 60 * NS - now) / NS
        return left if now >= last and left > 0 else None

    def push(self, *, respect_backoff: bool = True, respect_interval: bool = False,
             max_batches: int | None = None) -> PushResult:
        level, _ = self.outbox.consent()
        res = PushResult(consent=level)
        if level == "off":
            return res
        if respect_interval:
            left = self.interval_remaining_s()
            if left is not None:
                res.skipped_backoff_s = left
                return res
        with self.outbox.tx() as c:
            self.outbox.set_state(c, "last_run_ts", self.clock())
        res.sealed = len(self.outbox.seal())
        if respect_backoff:
            left = self.backoff_remaining_s()
            if left is not None:
                res.skipped_backoff_s = left
                return res
        try:
            while max_batches is None or len(res.sent) < max_batches:
                nxt = self.outbox.next_pending()
                if nxt is None:
                    break
                sealed, body = nxt
                sent = self._send_one(sealed.loan, sealed.seq, body, res)
                res.sent.append(sent)
                if sent.outcome in ("retry", "auth"):
                    break
        finally:
            self.transport.close()
        return res

    def _send_one(self, loan: str, seq: int, body: bytes, res: PushResult) -> Sent:
        headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": f"{loan}:{seq}",
                   "Content-Type": "application/json", "User-Agent": "werkvloer-sync"}
        try:
            status, hdrs, data = self.transport.post(body, headers)
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            detail = f"{type(exc).__name__}: {exc}"
            self.outbox.mark_failed(loan, seq, status=None, error=detail)
            res.retry_in_s = self._back_off(None)
            log.warning("sync: hub not reachable (%s); next try in %.0f s", detail, res.retry_in_s)
            return Sent(seq, None, "retry", detail)
        if 200 <= status < 300:
            try:
                receipt = Receipt.model_validate_json(data)
            except ValueError as exc:
                self.outbox.mark_failed(loan, seq, status=status, error=f"bad receipt: {exc}")
                res.retry_in_s = self._back_off(None)
                return Sent(seq, status, "retry", "the hub's answer is not a receipt")
            self.outbox.mark_delivered(loan, seq, receipt.highest_contiguous_seq, status=status)
            return Sent(seq, status, "delivered", f"hub holds up to seq {receipt.highest_contiguous_seq}")
        detail = _error_text(data)
        retry_after = parse_retry_after(hdrs.get("retry-after"), self.clock() / NS)
        if status in (401, 403):
            self.outbox.mark_failed(loan, seq, status=status, error=detail)
            res.retry_in_s = self._back_off(retry_after)
            self._auth_alert(status, detail)
            return Sent(seq, status, "auth", detail)
        if status in RETRY_LATER or status >= 500:
            self.outbox.mark_failed(loan, seq, status=status, error=detail)
            res.retry_in_s = self._back_off(retry_after)
            return Sent(seq, status, "retry", detail)
        self.outbox.mark_quarantined(loan, seq, status=status, error=detail)
        log.error("sync: the hub refused batch %s (HTTP %s: %s); quarantined", seq, status, detail)
        return Sent(seq, status, "quarantined", detail)

    def _auth_alert(self, status: int, detail: str) -> None:
        from appliance.alerts import AlertStore

        AlertStore(self.outbox.conn).raise_alert(
            source="sync", kind="sync.auth", severity="warning", dedupe_key="sync.auth",
            title={"nl": f"Sync: de hub weigert het token van deze box (HTTP {status})",
                   "en": f"Sync: the hub refuses this box's token (HTTP {status})"},
            detail={"nl": "Er wordt niets verstuurd tot het token klopt; de box bewaart alles. Vraag het programma "
                          "om een nieuw token en zet het in het geheimenbestand van de box.",
                    "en": "Nothing is sent until the token is right; the box keeps everything. Ask the programme "
                          "for a new token and put it in the box's secrets file.", "error": detail})


def _error_text(data: bytes) -> str:
    try:
        obj = json.loads(data)
    except ValueError:
        return data[:200].decode("utf-8", "replace")
    if isinstance(obj, dict):
        return str(obj.get("detail") or obj.get("error") or obj)[:500]
    return str(obj)[:500]

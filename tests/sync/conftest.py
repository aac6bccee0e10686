"""Real peers for the sync tests: a test CA made here, the hub as its own
process (uvicorn over TLS on loopback), a throw-away PostgreSQL cluster, and
a box data directory filled by ``simulate history``."""

from __future__ import annotations

import datetime as dt
import glob
import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, free_port, wait_for

PG_INSTALL = "apt-get install -y postgresql"


# ------------------------------------------------------------------ TLS
def make_ca(dir_: Path) -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "werkvloer test programme CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    dir_.mkdir(parents=True, exist_ok=True)
    out = {"ca": dir_ / "ca.pem", "cert": dir_ / "hub.pem", "key": dir_ / "hub.key"}
    out["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    return out


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_ca(tmp_path_factory.mktemp("tls"))


# ------------------------------------------------------------------ PostgreSQL
def pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail(f"PostgreSQL is not installed; the sync tests need it: {PG_INSTALL}  (.ci/run does this)")
    return Path(found[-1]).parent


class PgCluster:
    def __init__(self) -> None:
        self.bin = pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="wv-pg-"))
        self.port = free_port()
        as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.as_pg = as_pg
        if as_pg:
            shutil.chown(self.dir, "postgres", "postgres")
        data = self.dir / "data"
        subprocess.run([*as_pg, str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                        "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
        subprocess.run([*as_pg, str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.dir / "log"), "-w", "-o",
                        f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                        f"-c max_connections=200", "start"], check=True, capture_output=True)
        self.data = data

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def new_database(self) -> str:
        import psycopg

        name = "hub_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        subprocess.run([*self.as_pg, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    cluster = PgCluster()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub' / 'hub.db'}"
    return request.getfixturevalue("pg_cluster").new_database()


# ------------------------------------------------------------------ the hub as a process
class HubProcess:
    def __init__(self, db_url: str, tls: dict[str, Path] | None, log_dir: Path,
                 serve_args: tuple[str, ...] = ()) -> None:
        self.db_url = db_url
        self.serve_args = serve_args
        self.tls = tls
        self.port = free_port()
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "appliance.cli", "hub", *args, "--db", self.db_url],
                             check=True, capture_output=True, text=True, cwd=ROOT, env=_env())
        return out.stdout.strip()

    def start(self) -> HubProcess:
        cmd = [sys.executable, "-m", "appliance.cli", "hub", "serve", "--db", self.db_url, "--port", str(self.port),
               *self.serve_args]
        if self.tls:
            cmd += ["--certfile", str(self.tls["cert"]), "--keyfile", str(self.tls["key"])]
        self.starts += 1
        log = open(self.log_dir / f"hub-{self.starts}.log", "wb")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._healthy, what="hub health", timeout_s=60)
        return self

    def _healthy(self) -> bool:
        import ssl
        import urllib.request

        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"hub exited: {(self.log_dir / f'hub-{self.starts}.log').read_text()}")
        ctx = ssl.create_default_context(cafile=str(self.tls["ca"])) if self.tls else None
        with urllib.request.urlopen(self.url + "/api/v1/health", timeout=2, context=ctx) as r:
            return r.status == 200

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # a hub that ignores SIGTERM must not leak into the next test
                self.proc.wait(timeout=30)
                raise AssertionError(f"the hub did not stop within 30 s of signal {sig}") from None

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture
def hub_factory(tmp_path: Path) -> Iterator[Any]:
    hubs: list[HubProcess] = []

    def make(db_url: str, tls: dict[str, Path] | None = None, *serve_args: str) -> HubProcess:
        h = HubProcess(db_url, tls, tmp_path, serve_args)
        hubs.append(h)
        return h

    yield make
    for h in hubs:
        h.stop()


# ------------------------------------------------------------------ the box
SHIFTS = [{"name": "vroeg", "start": "06:00", "end": "14:00", "days": [0, 1, 2, 3, 4, 5, 6]},
          {"name": "laat", "start": "14:00", "end": "22:00", "days": [0, 1, 2, 3, 4, 5, 6]}]


def box_config(data_dir: Path, *, url: str | None, ca_file: Path | None = None, limit_mb: float = 50.0,
               box_name: str = "werkvloer") -> Any:
    from appliance.config import parse_config

    sync: dict[str, Any] = {"programme": "pilot-2026", "sector": "25", "size_class": "10-49",
                            "outbox_limit_mb": limit_mb}
    if url:
        sync["url"] = url
    if ca_file:
        sync["ca_file"] = str(ca_file)
    return parse_config({"box": {"data_dir": str(data_dir), "name": box_name}, "sync": sync,
                         "machine": {"shifts": SHIFTS, "ideal_cycle_s": 12}})


def write_box_toml(path: Path, cfg: Any) -> Path:
    """The same config as a TOML file (for the CLI in a subprocess)."""
    s = cfg.sync
    lines = ["[box]", f'data_dir = "{cfg.box.data_dir}"', f'name = "{cfg.box.name}"', "", "[sync]",
             f'programme = "{s.programme}"', f'sector = "{s.sector}"', f'size_class = "{s.size_class}"',
             f"outbox_limit_mb = {s.outbox_limit_mb}"]
    if s.url:
        lines.append(f'url = "{s.url}"')
    if s.ca_file:
        lines.append(f'ca_file = "{s.ca_file}"')
    lines += ["", "[machine]", "ideal_cycle_s = 12"]
    for sh in SHIFTS:
        lines += ["[[machine.shifts]]", f'name = "{sh["name"]}"', f'start = "{sh["start"]}"', f'end = "{sh["end"]}"',
                  f"days = {sh['days']}"]
    path.write_text("\n".join(lines) + "\n")
    return path


class Clock:
    """The injected wall clock (UTC ns)."""

    def __init__(self, now_ns: int) -> None:
        self.now = now_ns

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1_000_000_000)

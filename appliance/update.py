"""``werkvloer update``: signed offline updates from a USB stick (issue 12).

A bundle is one uncompressed tar file (the wheels are compressed already)::

    manifest.json   {"format": 1, "version", "python", "created", "files": {name: sha256}}
    manifest.sig    ed25519 signature of manifest.json, by the hub's private key
    wheels/*.whl    werkvloer and every dependency, for the box's platform

The box verifies the signature with the public key baked into the image
(``/usr/lib/werkvloer/update-signing.pub``), checks every file against the
manifest, installs the wheels into a NEW venv under ``/opt/werkvloer/releases``
(``pip --no-index``: nothing is fetched), then switches the ``current`` link
with one ``rename()`` (atomic: a power cut leaves the old or the new link,
never none). It restarts the core and waits for READY; if the core is not
READY within a minute it switches back by itself and restarts the old release.

The running release is never modified, so a power cut during an update at
worst leaves a half-built release folder, which the next update removes.

On the hub's laptop: ``werkvloer update --keygen keys/update-signing`` once,
then ``werkvloer update --build BUNDLE --key keys/update-signing.key
--wheelhouse image-build/dist/py3.13``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import WerkvloerError
from .files import fsync_dir, replace_symlink

log = logging.getLogger(__name__)

FORMAT = 1
PUBLIC_KEY = Path("/usr/lib/werkvloer/update-signing.pub")
RELEASES = Path("/opt/werkvloer/releases")
READY_TIMEOUT_S = 60.0
UNITS = ("werkvloer-core.service", "werkvloer-ui.service")
COMPLETE = "COMPLETE"
_NAME = re.compile(r"^wheels/[A-Za-z0-9_.+-]+\.whl$")


class UpdateError(WerkvloerError, ValueError):
    """The bundle is refused or the update failed; the message says what to do."""


@dataclass(frozen=True)
class Manifest:
    version: str
    python: str
    files: dict[str, str]

    @classmethod
    def parse(cls, raw: bytes) -> Manifest:
        try:
            data = json.loads(raw)
            if data["format"] != FORMAT:
                raise UpdateError(f"bundle format {data['format']} is not {FORMAT}: this box needs a newer image")
            files = {str(k): str(v) for k, v in data["files"].items()}
            return cls(version=str(data["version"]), python=str(data["python"]), files=files)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UpdateError(f"manifest.json is not a Werkvloer update manifest ({exc})") from None


# --- keys and signatures ---------------------------------------------------------

def keygen(prefix: Path) -> tuple[Path, Path]:
    """Make the hub's key pair: PREFIX.key (private, 0600) and PREFIX.pub."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key, pub = prefix.with_suffix(".key"), prefix.with_suffix(".pub")
    if key.exists():
        raise UpdateError(f"{key} exists already; a new key would lock out every box that has the old one")
    key.parent.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    pub.write_bytes(private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))
    return key, pub


def _verify_signature(manifest: bytes, signature: bytes, public_key: Path) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(public_key.read_bytes())
    except (OSError, ValueError) as exc:
        raise UpdateError(f"cannot read the update key {public_key} ({exc}); the image has no update key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UpdateError(f"{public_key} is not an ed25519 public key")
    try:
        key.verify(signature, manifest)
    except InvalidSignature:
        raise UpdateError("the bundle's signature does not match this box's update key: "
                          "it was not made by your hub, or it was changed after signing") from None


# --- building a bundle (hub's laptop) ----------------------------------------------

def build_bundle(out: Path, *, wheelhouse: Path, key: Path, python: str | None = None) -> Manifest:
    """Sign the wheels in ``wheelhouse`` into one bundle file."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    wheels = sorted(wheelhouse.glob("*.whl"))
    ours = [w for w in wheels if w.name.startswith("werkvloer-")]
    if len(ours) != 1:
        raise UpdateError(f"{wheelhouse} must hold exactly one werkvloer-*.whl (found {len(ours)}); "
                          "run make -C image-build wheel")
    version = ours[0].name.split("-")[1]
    if python is None:
        m = re.search(r"py(3\.\d+)$", wheelhouse.name)
        python = m.group(1) if m else f"{sys.version_info.major}.{sys.version_info.minor}"
    private = load_pem_private_key(key.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise UpdateError(f"{key} is not an ed25519 private key (make one with werkvloer update --keygen)")
    files = {f"wheels/{w.name}": _sha256(w) for w in wheels}
    manifest = json.dumps({"format": FORMAT, "version": version, "python": python,
                           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "files": files},
                          indent=1, sort_keys=True).encode()
    tmp = out.with_name(out.name + ".part")
    with tarfile.open(tmp, "w") as tar:
        for name, data in (("manifest.json", manifest), ("manifest.sig", private.sign(manifest))):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        for w in wheels:
            tar.add(w, arcname=f"wheels/{w.name}", recursive=False)
    os.replace(tmp, out)
    return Manifest(version=version, python=python, files=files)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- on the box ---------------------------------------------------------------------

def unpack_verified(bundle: Path, into: Path, *, public_key: Path) -> Manifest:
    """Check the signature first, then extract exactly the manifest's files and check each hash."""
    try:
        with tarfile.open(bundle, "r:") as tar:
            members = {m.name: m for m in tar.getmembers()}
            for required in ("manifest.json", "manifest.sig"):
                if required not in members or not members[required].isfile():
                    raise UpdateError(f"{bundle} has no {required}: not a Werkvloer update bundle")
            raw = _read_member(tar, members["manifest.json"])
            _verify_signature(raw, _read_member(tar, members["manifest.sig"]), public_key)
            manifest = Manifest.parse(raw)
            extra = set(members) - set(manifest.files) - {"manifest.json", "manifest.sig", "wheels"}
            if extra:
                raise UpdateError(f"the bundle holds files its manifest does not list: {', '.join(sorted(extra))}")
            (into / "wheels").mkdir(parents=True)
            for name, digest in manifest.files.items():
                member = members.get(name)
                if not _NAME.match(name) or member is None or not member.isfile():
                    raise UpdateError(f"the bundle lacks {name} or names it unsafely; make the bundle again")
                dest = into / name
                with dest.open("wb") as f:
                    shutil.copyfileobj(tar.extractfile(member), f)  # type: ignore[arg-type]
                if _sha256(dest) != digest:
                    raise UpdateError(f"{name} does not match the manifest (copy damaged?); copy the bundle again")
    except (tarfile.TarError, EOFError) as exc:
        raise UpdateError(f"{bundle} is not a readable bundle ({exc}); copy it to the stick again") from None
    return manifest


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    f = tar.extractfile(member)
    assert f is not None
    return f.read(1 << 20)  # a manifest or signature is small; never read more


def current_release(releases: Path) -> Path:
    return (releases / "current").resolve()


def switch(releases: Path, target: Path) -> Path:
    """Point ``current`` at ``target`` with one rename; returns the previous target."""
    previous = (releases / "current").resolve()
    replace_symlink(releases / "current", target, tmp_suffix=".new")
    replace_symlink(releases / "previous", previous, tmp_suffix=".new")
    return previous


Check = Callable[[float], bool]


def systemd_ready(timeout_s: float) -> bool:
    """Restart the core and the UI; True once systemd reports a NEW run of the
    core active (for Type=notify: after READY=1) and the UI running, within
    ``timeout_s``. A new InvocationID tells the restarted run from the old one."""
    before = {u: _unit_props(u).get("InvocationID", "") for u in UNITS}
    # A release that kept crashing leaves the core in start-limit-hit; without
    # reset-failed systemd would refuse to start the release we switch back to.
    subprocess.run(["systemctl", "reset-failed", *UNITS], check=True)
    subprocess.run(["systemctl", "restart", "--no-block", *UNITS], check=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        props = {u: _unit_props(u) for u in UNITS}
        fresh = all(props[u].get("InvocationID", "") not in ("", before[u]) for u in UNITS)
        if fresh and all((p.get("ActiveState"), p.get("SubState")) == ("active", "running") for p in props.values()):
            return True
        if fresh and props[UNITS[0]].get("ActiveState") == "failed":
            return False
        time.sleep(1.0)  # polling systemd's state; there is no event to await from a CLI
    return False


def _unit_props(unit: str) -> dict[str, str]:
    out = subprocess.run(["systemctl", "show", "--property=ActiveState,SubState,InvocationID", unit],
                         capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def notify_ready(argv_for: Callable[[Path], list[str]], releases: Path) -> Check:
    """A check without systemd: start ``argv_for(current venv)`` with a
    NOTIFY_SOCKET of our own and wait for its READY=1 (sd_notify(3))."""

    def check(timeout_s: float) -> bool:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "notify")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(path)
            proc = subprocess.Popen(argv_for(current_release(releases)),
                                    env={**_clean_env(), "NOTIFY_SOCKET": path})
            try:
                deadline = time.monotonic() + timeout_s
                while (left := deadline - time.monotonic()) > 0:
                    sock.settimeout(min(left, 0.5))
                    try:
                        msg = sock.recv(4096).decode(errors="replace")
                    except TimeoutError:
                        if proc.poll() is not None:
                            return False
                        continue
                    if "READY=1" in msg.split("\n"):
                        return True
                return False
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                sock.close()

    return check


@dataclass(frozen=True)
class Result:
    version: str
    release: Path
    previous: Path
    rolled_back: bool
    restored: bool = True   # after a roll-back: the previous release is READY again


def install(bundle: Path, *, releases: Path = RELEASES, public_key: Path = PUBLIC_KEY,
            python: str | None = None, check: Check = systemd_ready, timeout_s: float = READY_TIMEOUT_S,
            pip_args: tuple[str, ...] = ()) -> Result:
    """Verify, install into a new venv, switch, check READY, roll back if not."""
    python = python or _box_python()
    releases.mkdir(parents=True, exist_ok=True)
    _remove_incomplete(releases)  # left by a power cut during an earlier update
    staging = Path(tempfile.mkdtemp(prefix=".bundle-", dir=releases))
    final: Path | None = None
    try:
        manifest = unpack_verified(bundle, staging, public_key=public_key)
        have = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, check=True, env=_clean_env()).stdout.strip()
        if manifest.python != have:
            raise UpdateError(f"the bundle is for Python {manifest.python}, this box has {have}: "
                              f"build it from image-build/dist/py{have}")
        # Built where it will run (a venv hard-codes its path); COMPLETE marks it usable.
        final = releases / f"{manifest.version}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
        final.mkdir()
        venv = final / "venv"
        # No pip inside the release: the running release's pip installs into it (--python).
        subprocess.run([python, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)],
                       check=True, env=_clean_env())
        pip = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                              "--quiet", "--no-index", "--no-cache-dir", "--disable-pip-version-check",
                              "--find-links", str(staging / "wheels"), *pip_args, f"werkvloer=={manifest.version}"],
                             capture_output=True, text=True, env=_clean_env())
        if pip.returncode != 0:
            raise UpdateError(f"installing the wheels failed; the running release is unchanged:\n{pip.stderr.strip()}")
        _write_synced(final / COMPLETE, manifest.version + "\n")
    except BaseException:
        if final is not None:
            shutil.rmtree(final, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    previous = switch(releases, final / "venv")
    log.info("werkvloer %s installed; waiting up to %.0f s for the core to be READY", manifest.version, timeout_s)
    if check(timeout_s):
        _prune(releases, keep={final, previous.parent})
        return Result(manifest.version, final, previous, rolled_back=False)
    log.error("the core did not become READY on %s within %.0f s: back to %s", manifest.version, timeout_s, previous)
    switch(releases, previous)
    restored = check(timeout_s)  # restart the previous release
    if not restored:
        log.error("the previous release %s did not become READY either", previous)
    return Result(manifest.version, final, previous, rolled_back=True, restored=restored)


def _write_synced(path: Path, text: str) -> None:
    with path.open("w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(path.parent)


def _remove_incomplete(releases: Path) -> None:
    running = {current_release(releases).parent, (releases / "previous").resolve().parent}
    for d in releases.iterdir():
        if d.is_dir() and not d.is_symlink() and d not in running and (
                d.name.startswith(".bundle-") or not (d / COMPLETE).exists()):
            shutil.rmtree(d)


def _prune(releases: Path, *, keep: set[Path]) -> None:
    """Keep the running and the previous release; remove older ones (space on /persistent)."""
    for d in releases.iterdir():
        if d.is_dir() and not d.is_symlink() and (d / COMPLETE).exists() and d.resolve() not in keep:
            shutil.rmtree(d)


def _clean_env() -> dict[str, str]:
    """The environment for the new release: no caller's PYTHONPATH, no pip config
    (an index or find-links from a config file must not reach the box)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def _box_python() -> str:
    """The system Python the factory venv was made from (python3-systemd lives there)."""
    return getattr(sys, "_base_executable", None) or sys.executable


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="werkvloer update",
                                description="Install a signed offline update bundle, or make one (--build).")
    p.add_argument("bundle", nargs="?", help="the bundle file (on the USB stick)")
    p.add_argument("--build", metavar="OUT", help="make a bundle (hub's laptop): needs --key and --wheelhouse")
    p.add_argument("--key", help="the hub's private key (PEM) for --build")
    p.add_argument("--wheelhouse", help="folder with the werkvloer wheel and its dependencies, for --build")
    p.add_argument("--keygen", metavar="PREFIX", help="make the hub's key pair PREFIX.key and PREFIX.pub")
    p.add_argument("--status", action="store_true", help="show the running and the previous release")
    p.add_argument("--releases", default=str(RELEASES), help=argparse.SUPPRESS)
    p.add_argument("--public-key", default=str(PUBLIC_KEY), help=argparse.SUPPRESS)
    p.add_argument("--timeout", type=float, default=READY_TIMEOUT_S, help="seconds to wait for READY (default 60)")
    a = p.parse_args(argv)
    releases = Path(a.releases)
    if a.keygen:
        key, pub = keygen(Path(a.keygen))
        print(f"private key {key} (keep it on the hub, never on a box), public key {pub} (baked into the image)")
        return 0
    if a.build:
        if not (a.key and a.wheelhouse):
            p.error("--build needs --key and --wheelhouse")
        m = build_bundle(Path(a.build), wheelhouse=Path(a.wheelhouse), key=Path(a.key))
        print(f"{a.build}: werkvloer {m.version} for Python {m.python}, {len(m.files)} wheels, signed")
        return 0
    if a.status:
        print(f"running: {current_release(releases)}")
        prev = releases / "previous"
        print(f"previous: {prev.resolve() if prev.is_symlink() else '(none)'}")
        return 0
    if not a.bundle:
        p.error("name the bundle file, or use --build/--keygen/--status")
    result = install(Path(a.bundle), releases=releases, public_key=Path(a.public_key), timeout_s=a.timeout)
    if result.rolled_back and not result.restored:
        print(f"werkvloer {result.version} did not start within {a.timeout:.0f} s and neither did the previous "
              f"release {result.previous} after switching back. Check `journalctl -u werkvloer-core` "
              "(config, disk) and call the hub.", file=sys.stderr)
        return 3
    if result.rolled_back:
        print(f"werkvloer {result.version} did not start within {a.timeout:.0f} s; rolled back to {result.previous}, "
              "which is running again. Nothing was lost; send the journal (journalctl -u werkvloer-core) "
              "to the hub.", file=sys.stderr)
        return 1
    print(f"werkvloer {result.version} is running ({result.release}); previous release kept: {result.previous}")
    return 0

"""``make -C image-build smoke``: a boot you can trust, as far as an x86 Debian
machine allows (issue 12).

1. ``mmdebstrap`` builds a Debian root (host architecture, Bookworm by
   default) from the layer's package list plus what rpi-image-gen's required
   layers add;
2. an amd64 wheelhouse is made and the **layer's own customize hook** runs on
   that root, as rpi-image-gen would run it (overlay, sysusers, units, offline
   venv install, unit enabling);
3. a provisioning file goes onto ``/boot/firmware`` and the root is booted
   with ``systemd-nspawn --boot``: firstboot provisions, the core reaches
   READY (``ActiveState=active`` for ``Type=notify``), the core is frozen with
   SIGSTOP and systemd's watchdog restarts it, and the recorded samples
   survive the restart.

Needs root, network (Debian mirror, PyPI) and ~1.5 GB; takes minutes. Not
part of every CI run. The kiosk is masked (no display in a container).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import yaml

SRC = Path(__file__).resolve().parent
PROJECT = SRC.parent
LAYER = SRC / "layer" / "werkvloer.yaml"
REQUIRED_LAYER_PACKAGES = ["systemd-timesyncd", "fake-hwclock", "systemd", "systemd-sysv", "dbus"]
SIM_UNIT = """[Unit]
Description=Smoke test: the machine simulator as the box's PLC
Before=werkvloer-core.service

[Service]
User=werkvloer
ExecStart=/opt/werkvloer/releases/current/bin/werkvloer simulate --opcua-port 0

[Install]
WantedBy=multi-user.target
"""


def step(msg: str) -> None:
    print(f"[smoke {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, **kw)  # type: ignore[call-overload]


def layer() -> tuple[list[str], list[str]]:
    body = yaml.safe_load(LAYER.read_text().split("# METAEND", 1)[1])["mmdebstrap"]
    return body["packages"], body["customize-hooks"]


def build_root(root: Path, suite: str, mirror: str) -> None:
    packages, _ = layer()
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    step(f"mmdebstrap {suite}: {len(packages) + len(REQUIRED_LAYER_PACKAGES)} packages")
    run(["mmdebstrap", "--variant=apt", "--include=" + ",".join(packages + REQUIRED_LAYER_PACKAGES), suite,
         str(tmp), mirror])
    tmp.rename(root)


def wheelhouse(work: Path, pyver: str) -> Path:
    wheels = work / f"wheels-py{pyver}"
    shutil.rmtree(wheels, ignore_errors=True)
    wheels.mkdir(parents=True)
    step(f"wheelhouse for {os.uname().machine} Python {pyver}")
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(PROJECT)])
    ours = next(wheels.glob("werkvloer-*.whl"))
    arch = os.uname().machine
    platforms = ["linux_" + arch, "manylinux2014_" + arch] + [f"manylinux_2_{m}_{arch}" for m in range(17, 37)]
    run([sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(wheels), "--only-binary=:all:",
         *[a for p in platforms for a in ("--platform", p)], "--implementation", "cp", "--python-version", pyver,
         str(ours)])
    shutil.copyfile(PROJECT / "configs" / "demo.toml", wheels / "werkvloer.toml.example")
    return wheels


def run_layer_hooks(root: Path, wheels: Path, key: Path) -> None:
    _, hooks = layer()
    meta = dict(re.findall(r"^# X-Env-Var-(\w+): (.*)$", LAYER.read_text(), re.M))
    env = {**os.environ,
           "IGconf_werkvloer_overlay": meta["overlay"].replace("${DIRECTORY}", str(LAYER.parent)),
           "IGconf_werkvloer_units": meta["units"].replace("${DIRECTORY}", str(LAYER.parent)),
           "IGconf_werkvloer_wheel_dir": str(wheels),
           "IGconf_werkvloer_update_key": str(key)}
    for i, hook in enumerate(hooks):
        step(f"layer hook {i + 1}/{len(hooks)}")
        run(["sh", "-c", hook, "hook", str(root)], env=env)


def provisioning_file(root: Path) -> None:
    import tomllib

    import tomli_w

    demo = tomllib.loads((PROJECT / "configs" / "demo.toml").read_text())
    config = {"box": {"name": "smoke"}, "storage": {"batch_interval_s": 0.5},
              "sources": {"modbus": demo["sources"]["modbus"]}}
    data = {"format": 1, "language": "nl", "timezone": "Europe/Amsterdam", "config": config}
    boot = root / "boot" / "firmware"
    boot.mkdir(parents=True, exist_ok=True)
    (boot / "werkvloer-provision.toml").write_text(tomli_w.dumps(data))


class Container:
    """A root booted with systemd-nspawn; commands run inside through nsenter."""

    def __init__(self, root: Path, log: Path) -> None:
        self.root = root
        self.logf = log.open("w")
        # Without systemd as the host's PID 1 (CI machines, containers): no bus, so
        # --register=no --keep-unit; /etc/localtime is the box's own link
        # (--timezone=off). nspawn refuses to clean /run/systemd/nspawn when /run is
        # not a tmpfs, so it gets one in a private mount namespace.
        nspawn = ["systemd-nspawn", "--boot", "--register=no", "--keep-unit", "--private-network",
                  "--timezone=off", "--resolv-conf=off", "--console=pipe", "--machine=werkvloer-smoke",
                  "-D", str(root)]
        Path("/run/systemd/nspawn").mkdir(parents=True, exist_ok=True)
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c",
               'mount -t tmpfs tmpfs /run/systemd/nspawn && exec "$@"', "nspawn", *nspawn]
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.leader = self._leader()

    def _leader(self, timeout_s: float = 30.0) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited with {self.proc.returncode}; see {self.logf.name}")
            out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
            if out:
                return int(out[0])
            time.sleep(0.2)
        raise RuntimeError("the container did not start")

    def sh(self, *cmd: str, check: bool = True) -> str:
        out = subprocess.run(["nsenter", "-t", str(self.leader), "-a", "--", *cmd], capture_output=True, text=True)
        if check and out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: {out.stderr.strip()}")
        return out.stdout.strip()

    def show(self, unit: str) -> dict[str, str]:
        out = self.sh("systemctl", "show", "--property=ActiveState,SubState,MainPID,NRestarts,Result", unit,
                      check=False)
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def wait(self, what: str, cond, timeout_s: float) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout_s:
            if cond():
                return time.monotonic() - t0
            time.sleep(0.5)  # polling systemd inside another namespace; no event reaches us
        raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}; see {self.logf.name}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # nspawn asks the container's systemd to power off
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()


def samples(root: Path) -> int:
    db = root / "var" / "lib" / "werkvloer" / "werkvloer.db"
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        try:
            return int(conn.execute("SELECT coalesce(sum(n), 0) FROM sample_chunks").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def update_and_rollback(c: Container, root: Path, work: Path) -> dict[str, object]:
    """`werkvloer update` under the real systemd: a good bundle switches, a
    bundle whose core never gets READY is rolled back by itself."""
    sys.path.insert(0, str(PROJECT))
    from appliance.update import build_bundle
    from tests.appliance.test_update import fake_wheel

    key = work / "keys" / "update-signing.key"
    good, bad = root / "var/tmp/good.wvupdate", root / "var/tmp/bad.wvupdate"
    build_bundle(good, wheelhouse=work / "wheels-py3.11", key=key)
    broken = work / "wheels-broken"
    shutil.rmtree(broken, ignore_errors=True)
    fake_wheel(broken, "0.0.1", ready=False)
    build_bundle(bad, wheelhouse=broken, key=key, python="3.11")
    werkvloer = "/opt/werkvloer/releases/current/bin/werkvloer"
    out: dict[str, object] = {}
    t0 = time.monotonic()
    ok = subprocess.run(["nsenter", "-t", str(c.leader), "-a", "--", werkvloer, "update", "/var/tmp/good.wvupdate"],
                        capture_output=True, text=True)
    out["update_rc"], out["update_s"] = ok.returncode, round(time.monotonic() - t0, 1)
    out["update_current"] = os.readlink(root / "opt/werkvloer/releases/current")
    step(f"update: rc {ok.returncode} in {out['update_s']} s, current -> {out['update_current']}")
    t0 = time.monotonic()
    bad_run = subprocess.run(["nsenter", "-t", str(c.leader), "-a", "--", werkvloer, "update",
                              "/var/tmp/bad.wvupdate", "--timeout", "30"], capture_output=True, text=True)
    out["rollback_rc"], out["rollback_s"] = bad_run.returncode, round(time.monotonic() - t0, 1)
    out["rollback_current"] = os.readlink(root / "opt/werkvloer/releases/current")
    out["core_after_rollback"] = c.show("werkvloer-core.service").get("ActiveState")
    step(f"bad update: rc {bad_run.returncode} in {out['rollback_s']} s, current -> {out['rollback_current']}, "
         f"core {out['core_after_rollback']}")
    if ok.returncode != 0 or bad_run.returncode != 1:
        print(ok.stdout, ok.stderr, bad_run.stdout, bad_run.stderr, sep="\n", file=sys.stderr)
    return out


def boot_and_check(root: Path, work: Path) -> dict[str, object]:
    results: dict[str, object] = {}
    c = Container(root, work / "console.log")
    try:
        results["ready_s"] = round(c.wait("werkvloer-core active (READY)",
                                          lambda: c.show("werkvloer-core.service").get("ActiveState") == "active",
                                          180), 1)
        step(f"core READY {results['ready_s']} s after boot")
        results["provisioned"] = (root / "var/lib/werkvloer/.provisioned").exists() and not (
            root / "boot/firmware/werkvloer-provision.toml").exists()
        c.wait("samples recorded", lambda: samples(root) > 0, 60)
        before = samples(root)
        state = c.show("werkvloer-core.service")
        pid, restarts = state["MainPID"], int(state.get("NRestarts", "0"))
        step(f"freezing the core (pid {pid} in the container) with SIGSTOP; samples so far {before}")
        c.sh("kill", "-STOP", pid)
        t0 = time.monotonic()
        c.wait("a watchdog restart", lambda: int(c.show("werkvloer-core.service").get("NRestarts", "0")) > restarts,
               90)
        c.wait("werkvloer-core active again",
               lambda: c.show("werkvloer-core.service").get("ActiveState") == "active", 120)
        results["watchdog_restart_s"] = round(time.monotonic() - t0, 1)
        results["watchdog_result"] = c.sh("journalctl", "-u", "werkvloer-core", "--no-pager", "-o", "cat",
                                          check=False).count("Watchdog timeout")
        c.wait("more samples after the restart", lambda: samples(root) > before, 60)
        results["samples_before"], results["samples_after"] = before, samples(root)
        results["ui"] = c.show("werkvloer-ui.service").get("ActiveState")
        results.update(update_and_rollback(c, root, work))
        results["units_failed"] = c.sh("systemctl", "--failed", "--no-legend", "--plain", check=False)
    finally:
        c.stop()
    return results


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=Path("/var/tmp/werkvloer-smoke"))
    p.add_argument("--suite", default="bookworm")
    p.add_argument("--python", default="3.11", help="the suite's Python (bookworm 3.11, trixie 3.13)")
    p.add_argument("--mirror", default="http://deb.debian.org/debian")
    p.add_argument("--reuse-root", action="store_true", help="keep an earlier mmdebstrap root (faster rerun)")
    a = p.parse_args(argv)
    if os.geteuid() != 0:
        print("smoke: run as root (mmdebstrap, systemd-nspawn)", file=sys.stderr)
        return 2
    for tool in ("mmdebstrap", "systemd-nspawn", "nsenter"):
        if shutil.which(tool) is None:
            print(f"smoke: {tool} missing: apt-get install mmdebstrap systemd-container", file=sys.stderr)
            return 2
    a.work.mkdir(parents=True, exist_ok=True)
    base = a.work / f"base-{a.suite}"
    if not (a.reuse_root and base.is_dir()):
        shutil.rmtree(base, ignore_errors=True)
        build_root(base, a.suite, a.mirror)
    root = a.work / "root"
    shutil.rmtree(root, ignore_errors=True)
    step("copying the base root")
    run(["cp", "-a", str(base), str(root)])
    wheels = wheelhouse(a.work, a.python)
    sys.path.insert(0, str(PROJECT))
    from appliance.update import keygen

    keys = a.work / "keys"
    shutil.rmtree(keys, ignore_errors=True)
    _, pub = keygen(keys / "update-signing")
    run_layer_hooks(root, wheels, pub)
    run(["systemctl", f"--root={root}", "disable", "werkvloer-kiosk.service"])
    (root / "etc/systemd/system/werkvloer-smoke-sim.service").write_text(SIM_UNIT)
    run(["systemctl", f"--root={root}", "enable", "werkvloer-smoke-sim.service"])
    provisioning_file(root)
    results = boot_and_check(root, a.work)
    print(json.dumps(results, indent=1))
    ok = bool(results.get("provisioned") and results["samples_after"] > results["samples_before"] > 0  # type: ignore[operator]
              and results.get("watchdog_result", 0) >= 1 and results.get("ui") == "active"  # type: ignore[operator]
              and results.get("units_failed") == ""
              and results.get("update_rc") == 0 and results.get("rollback_rc") == 1
              and results.get("rollback_current") == results.get("update_current")
              and results.get("core_after_rollback") == "active")
    print("smoke: OK" if ok else "smoke: FAILED", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

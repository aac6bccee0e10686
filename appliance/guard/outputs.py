"""Stop outputs and the heartbeat, built from ``guard.outputs`` with the drivers' classes."""

from __future__ import annotations

from typing import Any

from appliance.errors import ConfigError
from drivers.gpio.config import GpioOutputConfig
from drivers.modbus.config import ModbusOutputConfig
from drivers.opcua.config import OpcuaOutputConfig

from .config import GuardConfig


def build_outputs(guard_cfg: GuardConfig, *, gpio_factory: Any = None, data_dir: str | None = None) -> list[Any]:
    """One object per ``guard.outputs`` entry, in config order, not yet opened.

    Stop outputs implement ``drivers.base.StopOutput``; the output named by
    ``guard.heartbeat.output`` becomes a heartbeat (``GpioHeartbeat``, or a
    ``ModbusStopOutput`` whose ``toggle_heartbeat`` the guard calls).
    ``gpio_factory``: the pin factory shared with the GPIO source (the
    daemon's); built from the environment/auto when omitted.
    """
    hb = guard_cfg.heartbeat.output if guard_cfg.heartbeat else None
    objs: list[Any] = []
    problems: list[tuple[str, str]] = []
    for i, out in enumerate(guard_cfg.outputs):
        if isinstance(out, GpioOutputConfig):
            from drivers.gpio.output import GpioHeartbeat, GpioStopOutput

            if gpio_factory is None:
                from drivers.gpio.factory import make_pin_factory

                gpio_factory = make_pin_factory("auto")
            if out.name == hb:
                objs.append(GpioHeartbeat(out.name, pin=out.pin, active_high=out.active_high,  # type: ignore[arg-type]
                                          pin_factory=gpio_factory))  # pin: NEEDS checked it
            else:
                objs.append(GpioStopOutput.from_config(out, run_permit=guard_cfg.run_permit,
                                                       pin_factory=gpio_factory))
        elif isinstance(out, ModbusOutputConfig):
            from drivers.modbus.output import ModbusStopOutput

            objs.append(ModbusStopOutput(out))
        elif isinstance(out, OpcuaOutputConfig):
            if out.name == hb:
                problems.append((f"guard.outputs[{i}]", "an OPC UA output cannot be the heartbeat; "
                                 "use a gpio or modbus output"))
                continue
            from drivers.opcua.output import OpcuaStopOutput

            password = None
            if out.password_secret:
                from appliance.secrets import load_secrets

                password = load_secrets().get(out.password_secret)
                if password is None:
                    problems.append((f"guard.outputs[{i}].password_secret",
                                     f"no secret {out.password_secret!r} in the secrets file; add it there"))
                    continue
            objs.append(OpcuaStopOutput(out, data_dir=data_dir, key_path=f"guard.outputs[{i}]",
                                        security_mode=out.security_mode, username=out.username,
                                        password=password))
    if problems:
        raise ConfigError(problems)
    return objs

"""``werkvloer ui``: run the local UI with uvicorn.

    python -m local_ui.server --config /etc/werkvloer/werkvloer.toml [--host H] [--port P]

One worker process, no reload, no access log per request (a Pi's SD card
and the RSS budget of 80 MB both prefer a quiet, lean process).
"""

from __future__ import annotations

import argparse
import logging
import sys

from appliance.exitcodes import run_command

log = logging.getLogger("werkvloer.ui")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="werkvloer ui", description="Run the local web UI (touchscreen and laptop).")
    p.add_argument("--config", required=True, help="box config (TOML)")
    p.add_argument("--host", help="listen address (default: ui.host from the config)")
    p.add_argument("--port", type=int, help="listen port (default: ui.port from the config)")
    p.add_argument("--data-dir", help="override box.data_dir (database and core socket)")
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    from appliance.notify import LOG_FORMAT, quiet_libraries

    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO), format=LOG_FORMAT)
    quiet_libraries()
    return run_command("werkvloer ui", lambda: _serve(args))


def _serve(args: argparse.Namespace) -> int:
    from appliance.config import load_config

    config = load_config(args.config)  # a ConfigError: run_command prints its key paths, exit 2
    if args.data_dir:
        config = config.model_copy(update={"box": config.box.model_copy(update={"data_dir": args.data_dir})})

    import uvicorn

    from .app import create_app

    app = create_app(config, config_path=args.config)
    host = args.host or config.ui.host
    port = args.port or config.ui.port
    app.state.ui.listen_host = host  # Settings warns when remote access is on but only loopback listens
    log.info("local UI on http://%s:%s (remote access %s)", host, port,
             "allowed by config" if config.ui.remote_access else "off unless an admin turns it on")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on",
                proxy_headers=False, server_header=False, timeout_graceful_shutdown=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

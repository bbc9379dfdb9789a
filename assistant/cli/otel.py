"""``python -m assistant export-otel|otel-receive``: the ledger's runs as OpenTelemetry traces, and
an OTLP/HTTP receiver that writes a LiveKit Agents app's (or another workbench's) spans into it."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from assistant.core.paths import default_ledger


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    out = sub.add_parser(
        "export-otel",
        help="a run as OpenTelemetry GenAI traces (OTLP/HTTP, or OTLP/JSON lines to a file)",
    )
    out.add_argument("--run", required=True, help="id of the run to export")
    out.add_argument("--ledger", default=default_ledger(), help="DuckDB ledger file")
    where = out.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--endpoint", help="OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318/v1/traces"
    )
    where.add_argument("--file", help="append OTLP/JSON lines (ExportTraceServiceRequest) here")
    out.add_argument(
        "--token", help="bearer token for the endpoint (default $WORKBENCH_OTEL_TOKEN)"
    )
    out.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another header (e.g. Langfuse's Authorization=Basic ...); repeatable",
    )
    out.add_argument(
        "--follow",
        action="store_true",
        help="a live run: keep exporting its new requests until the run ends",
    )
    out.add_argument(
        "--poll-s", type=float, default=2.0, help="--follow: how often to look (seconds)"
    )

    rx = sub.add_parser(
        "otel-receive",
        help="an OTLP/HTTP receiver: spans from a LiveKit Agents app into the ledger",
    )
    rx.add_argument("--ledger", default=default_ledger(), help="DuckDB ledger file")
    rx.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    rx.add_argument("--port", type=int, default=4318, help="port (default 4318, OTLP/HTTP's)")
    rx.add_argument("--token", help="require this bearer token (default $WORKBENCH_OTEL_TOKEN)")
    rx.add_argument("--tenant", default="otel", help="tenant of the runs received (default otel)")
    rx.add_argument("--config", help="TOML whose [pricing] overrides price the models received")
    rx.add_argument("--max-body-mb", type=float, default=8.0, help="largest body accepted (413)")
    rx.add_argument(
        "--queue-spans", type=int, default=50_000, help="spans held before 503 (bounded memory)"
    )
    rx.add_argument("--status-every", type=float, default=10.0, help="status line every S s")
    rx.add_argument("--status-file", help="also write the status as JSON here (the Live page)")
    rx.add_argument("--duration", type=float, help="stop after S seconds (default: Ctrl-C)")


def run(args: argparse.Namespace) -> int:
    return _export(args) if args.command == "export-otel" else _receive(args)


def _headers(pairs: list[str]) -> dict[str, str]:
    from assistant.core.errors import ConfigError

    headers: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--header {pair!r}: write NAME=VALUE")
        headers[name.strip()] = value
    return headers


def _export(args: argparse.Namespace) -> int:
    from assistant.telemetry.receiver import token_from_env

    token = token_from_env(args.token)
    if args.follow:
        from assistant.telemetry.follow import follow_run

        report = follow_run(
            Path(args.ledger),
            args.run,
            endpoint=args.endpoint,
            file=args.file,
            token=token,
            headers=_headers(args.header),
            poll_s=args.poll_s,
            notice=lambda m: print(f"notice: {m}", file=sys.stderr),
        )
    else:
        from assistant.ledger import Ledger
        from assistant.telemetry.export import export_run

        with Ledger(Path(args.ledger), read_only=True, wait_s=5.0) as ledger:
            report = export_run(
                ledger,
                args.run,
                endpoint=args.endpoint,
                file=args.file,
                token=token,
                headers=_headers(args.header),
            )
    print(report.line())
    return 0 if report.failed_spans == 0 else 1


def _receive(args: argparse.Namespace) -> int:
    from assistant.core.config import load_config
    from assistant.pricing.prices import Pricer
    from assistant.telemetry.receiver import Receiver, token_from_env

    ledger = Path(args.ledger)
    if not ledger.exists():
        from assistant.ledger import Ledger

        Ledger(ledger).close()  # a new ledger, migrated
    pricer = Pricer(load_config(args.config).pricing) if args.config else Pricer()
    receiver = Receiver(
        ledger,
        host=args.host,
        port=args.port,
        token=token_from_env(args.token),
        tenant=args.tenant,
        pricer=pricer,
        max_body_bytes=int(args.max_body_mb * 1024 * 1024),
        max_pending_spans=args.queue_spans,
        notice=lambda m: print(f"notice: {m}", file=sys.stderr),
    )
    host, port = receiver.start()
    auth = "bearer token required" if receiver.token else "no token"
    print(f"receiving OTLP/HTTP traces on http://{host}:{port}/v1/traces ({auth}) -> {ledger}")
    print(f"status: http://{host}:{port}/status", flush=True)
    started = time.monotonic()
    last = started
    try:
        while args.duration is None or time.monotonic() - started < args.duration:
            time.sleep(0.2)
            if args.status_file:
                _write_status(args.status_file, receiver.status())
            if time.monotonic() - last >= args.status_every:
                print(receiver.status_line(), flush=True)
                last = time.monotonic()
    except KeyboardInterrupt:
        print("stopping: writing what was accepted", file=sys.stderr)
    finally:
        receiver.stop()
        if args.status_file:
            _write_status(args.status_file, {**receiver.status(), "stopped": True})
        print(receiver.status_line(), flush=True)
    return 0


def _write_status(path: str, status: dict[str, object]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        json.dump(status, out)
    os.replace(tmp, path)

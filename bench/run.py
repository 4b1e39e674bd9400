"""`make bench` / `make bench-quick`: every measurement, one JSON file, the BENCHMARKS.md table.

    python -m bench.run [--quick] [--events N] [--growth-sizes A,B] [--runs R] ...

Everything listens on 127.0.0.1 only; every database made here is dropped at the end.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.append_rate import append_rate
from bench.console_pages import measure_console
from bench.databases import Backends, Kind, default_postgres_url, fresh_database
from bench.import_rate import import_rates
from bench.intake_rate import intake_side_by_side
from bench.load import LoadBounds
from bench.log_stages import StagePlan, measure_stages
from bench.machine import describe_machine
from bench.plan import MEASUREMENTS, Measurement, Plan
from bench.processes import REPO_ROOT
from bench.report import update_benchmarks_md, write_results


def say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def run_benchmarks(plan: Plan, backends: Backends) -> dict[str, Any]:
    """Every measurement of `plan` on each backend; the results as one JSON-ready dict."""
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "plan": {**asdict(plan), "stage_sizes": plan.stage_sizes, "ticket_pool": plan.ticket_pool},
        "machine": describe_machine(backends.postgres_url),
        "backends": {},
    }
    log_dir = backends.workdir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for kind in plan.backends:
        measured: dict[str, Any] = {}
        if "intake" in plan.measurements:
            say(f"{kind}: intake, service and naive receiver side by side")
            measured["intake"] = intake_side_by_side(
                backends, kind, plan.pool, plan.intake, plan.runs, log_dir
            )
        if "append" in plan.measurements:
            say(f"{kind}: append rates")
            measured["append"] = append_rates(backends, kind, plan)
        if "import" in plan.measurements:
            say(f"{kind}: ticket-audit import of {plan.import_deliveries} deliveries")
            measured["import"] = import_rates(backends, kind, plan.import_deliveries)
        if "stages" in plan.measurements:
            stage_plan = StagePlan(
                plan.stage_sizes, plan.ticket_pool, plan.queries, plan.intake, plan.runs
            )
            measured["stages"] = measure_stages(backends, kind, stage_plan, log_dir, say)
        if "console" in plan.measurements:
            measured["console"] = measure_console(
                backends,
                kind,
                plan.console_events,
                min(plan.pool, max(plan.console_events // 10, 1)),
                plan.console_queries,
                plan.runs,
                log_dir,
                say,
            )
        results["backends"][kind] = measured
    return results


def append_rates(backends: Backends, kind: Kind, plan: Plan) -> dict[str, Any]:
    with fresh_database(backends, kind, "append") as database:
        single = append_rate(
            database.url, 0, 1, plan.append_one_per_call, plan.append_seconds, plan.pool
        )
        grouped = append_rate(
            database.url,
            plan.append_one_per_call,
            100,
            plan.append_hundred_per_call,
            plan.append_seconds,
            plan.pool,
        )
    rates = {"one_per_call": single.events_per_s, "hundred_per_call": grouped.events_per_s}
    gain = rates["hundred_per_call"] / rates["one_per_call"] if rates["one_per_call"] else None
    return {
        "runs": [asdict(single), asdict(grouped)],
        "events_per_s": rates,
        "gain": round(gain, 2) if gain else None,
    }


def plan_from(args: argparse.Namespace) -> Plan:
    plan = Plan.quick() if args.quick else Plan.full()
    if args.events is not None:
        plan = plan.with_events(args.events)
    if args.growth_sizes is not None:
        sizes = tuple(int(size) for size in args.growth_sizes.split(",") if size)
        plan = replace(plan, growth_sizes=sizes)
    if args.runs is not None:
        plan = replace(plan, runs=args.runs)
    if args.console_events is not None:
        plan = replace(plan, console_events=args.console_events)
    if args.requests is not None or args.seconds is not None:
        plan = replace(
            plan,
            intake=bounded(plan.intake, args.requests, args.seconds),
            queries=bounded(plan.queries, args.requests, args.seconds),
        )
    if args.import_deliveries is not None:
        plan = replace(plan, import_deliveries=args.import_deliveries)
    if args.backends is not None:
        plan = replace(
            plan, backends=tuple(backend_kind(name) for name in args.backends.split(","))
        )
    if args.only is not None:
        plan = replace(plan, measurements=tuple(measurement(name) for name in args.only.split(",")))
    return plan


def backend_kind(name: str) -> Kind:
    kinds: dict[str, Kind] = {"postgres": "postgres", "sqlite": "sqlite"}
    if name in kinds:
        return kinds[name]
    raise SystemExit(f"--backends: unknown backend {name!r} (postgres, sqlite)")


def measurement(name: str) -> Measurement:
    for known in MEASUREMENTS:
        if name == known:
            return known
    raise SystemExit(f"--only: unknown measurement {name!r} ({', '.join(MEASUREMENTS)})")


def bounded(bounds: LoadBounds, requests: int | None, seconds: float | None) -> LoadBounds:
    return LoadBounds(bounds.connections, requests or bounds.requests, seconds or bounds.seconds)


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness")
    parser.add_argument("--events", type=int, help="events in the main log (full: 1,000,000)")
    parser.add_argument(
        "--console-events", type=int, help="events in the console pages' log (full: 100,000)"
    )
    parser.add_argument("--growth-sizes", help="log sizes to compare, comma-separated")
    parser.add_argument("--runs", type=int, help="runs per load figure (the median is kept)")
    parser.add_argument("--requests", type=int, help="requests per load run")
    parser.add_argument("--seconds", type=float, help="longest duration of a load run")
    parser.add_argument("--backends", help="postgres,sqlite (default both)")
    parser.add_argument("--import-deliveries", type=int, help="deliveries in the imported file")
    parser.add_argument(
        "--only",
        help="intake,append,import,stages,console: run only these; the results go to stderr "
        "and a JSON file, and BENCHMARKS.md is left alone",
    )
    parser.add_argument("--note", default="", help="a remark printed above the table")
    parser.add_argument(
        "--postgres-url",
        default=default_postgres_url(),
        help="a database where fresh schemas may be made and dropped",
    )
    parser.add_argument("--results-dir", type=Path, default=REPO_ROOT / "bench" / "results")
    parser.add_argument(
        "--markdown", type=Path, help="the file whose table to regenerate (full: BENCHMARKS.md)"
    )
    return parser.parse_args(argv)


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of a partial run, without the per-run detail."""
    shown: dict[str, Any] = {}
    for kind, measured in results["backends"].items():
        figures: dict[str, Any] = {}
        if "intake" in measured:
            intake = measured["intake"]
            figures["intake"] = {
                side: {key: intake[side][key] for key in ("requests_per_s", "p50_ms", "p99_ms")}
                for side in ("service", "naive")
            } | {"ratio": intake["ratio"]}
        if "append" in measured:
            figures["append"] = measured["append"]["events_per_s"]
        if "console" in measured:
            figures["console"] = {
                name: {
                    "console_ms": [pair["console"]["p50_ms"], pair["console"]["p99_ms"]],
                    "api_ms": [pair["api"]["p50_ms"], pair["api"]["p99_ms"]],
                    "ratio": [pair["p50_ratio"], pair["p99_ratio"]],
                }
                for name, pair in measured["console"]["pages"].items()
            }
        if "import" in measured:
            figures["import"] = {
                run: measured["import"][run]["deliveries_per_s"]
                for run in ("into_empty_log", "all_duplicates")
            }
        shown[kind] = figures
    return shown


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    args = parse_arguments(arguments)
    plan = plan_from(args)
    with tempfile.TemporaryDirectory(prefix="ticket-audit-bench-") as workdir:
        results = run_benchmarks(plan, Backends(args.postgres_url, Path(workdir)))
    results["command"] = shlex.join(["python", "-m", "bench.run", *arguments])
    results["note"] = args.note
    if not plan.complete:
        # A partial run has no whole table to show and must not replace the day's results.
        path = write_results(results, args.results_dir / "partial")
        say(f"results: {path}")
        say(orjson.dumps(summary(results), option=orjson.OPT_INDENT_2).decode())
        return 0
    path = write_results(results, args.results_dir)
    say(f"results: {path}")
    markdown = args.markdown or (None if args.quick else REPO_ROOT / "BENCHMARKS.md")
    if markdown is not None:
        update_benchmarks_md(markdown, results, path)
        say(f"table: {markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

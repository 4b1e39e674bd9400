"""The benchmark harness in its quick mode, on each backend: it runs to the end, reports every
figure, writes its files and leaves nothing behind. Nothing here judges a figure or a time."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import orjson
import psycopg

from bench.console_pages import PAIRS
from bench.databases import Backends, Kind
from bench.load import LoadBounds
from bench.plan import Plan
from bench.processes import REPO_ROOT
from bench.query_latency import ROUTES
from bench.rebuild_beside import rounds_beside
from bench.report import BEGIN, END, update_benchmarks_md, write_results
from bench.run import run_benchmarks
from projections.catalog import CATALOG

TINY = LoadBounds(connections=8, requests=60, seconds=2)


def backends_for(database_url: str, tmp_path: Path) -> tuple[Kind, Backends]:
    """The harness makes its own databases: schemas beside the fixture's, or files in tmp."""
    if database_url.startswith("sqlite"):
        return "sqlite", Backends("", tmp_path / "bench")
    return "postgres", Backends(database_url.split("?", 1)[0], tmp_path / "bench")


def bench_schemas(postgres_url: str) -> list[str]:
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench\\_%'"
        ).fetchall()
    return [row[0] for row in rows]


def test_quick_run_reports_every_measurement_and_writes_the_table(
    database_url: str, tmp_path: Path
) -> None:
    kind, backends = backends_for(database_url, tmp_path)
    plan = replace(
        Plan.quick(),
        events=120,
        pool=30,
        intake=TINY,
        queries=TINY,
        append_one_per_call=10,
        append_hundred_per_call=200,
        console_events=120,
        console_queries=LoadBounds(connections=1, requests=20, seconds=2),
        import_deliveries=60,
        backends=(kind,),
    )

    results = {**run_benchmarks(plan, backends), "command": "python -m bench.run", "note": ""}

    measured = results["backends"][kind]
    for side in ("service", "naive"):
        (run,) = measured["intake"][side]["runs"]
        # Every delivery of the load is a new change: all recorded, none a duplicate.
        assert run["statuses"] == {"201": run["requests"]}
        assert run["ok"] > 0
        assert measured["intake"][side]["requests_per_s"] > 0
    ratio_keys = {"requests_per_s", "p50_ms", "p99_ms", "cpu_per_delivery"}
    assert set(measured["intake"]["ratio"]) == ratio_keys
    for side in ("service", "naive"):
        spent = measured["intake"][side]["cpu_us_per_delivery"]
        assert spent["server"] > 0
        assert spent["total"] == spent["server"] + spent["postgres"]
    # The read models caught up after the burst, and the wait was measured.
    catch_up = measured["intake"]["service"]["projections"]
    assert catch_up["caught_up_after_s"] >= 0
    assert catch_up["runs"]
    assert all(run["lag_at_end_events"] >= 0 for run in catch_up["runs"])
    assert [run["per_call"] for run in measured["append"]["runs"]] == [1, 100]
    assert all(run["events"] > 0 for run in measured["append"]["runs"])

    imported = measured["import"]
    assert imported["into_empty_log"]["summary"] == "recorded 60, duplicates 0, rejected 0"
    assert imported["all_duplicates"]["summary"] == "recorded 0, duplicates 60, rejected 0"
    assert imported["into_empty_log"]["deliveries_per_s"] > 0

    (stage,) = measured["stages"]
    assert stage["events"] == 120
    assert stage["seed"]["events"] == 120
    rebuild = stage["rebuild"]
    assert set(rebuild["projections"]) == set(CATALOG)
    assert all(p["events"] == 120 for p in rebuild["projections"].values())
    assert rebuild["scan"]["events"] == 120
    assert rebuild["decoded_scan"]["events"] == 120
    assert rebuild["peak_rss_mib"] > 0
    assert rebuild["two_processes"]["events"] == 120
    assert rebuild["two_processes"]["peak_rss_mib"] > 0
    assert set(stage["queries"]) == set(ROUTES)
    for query in stage["queries"].values():
        assert query["status"] in ("measured", "missing")
        if query["status"] == "measured":
            assert query["runs"][0]["requests"] > 0
    assert stage["queries"]["ticket"]["status"] == "measured"
    assert set(stage["naive_queries"]) == {"ticket", "history", "changes_by_event"}
    for paired in stage["naive_queries"].values():
        for side in ("service", "naive"):
            (run,) = paired[side]["runs"]
            # Every question finds its answer on both sides: the same deliveries, the same tickets.
            assert run["statuses"] == {"200": run["requests"]}, (side, paired)
        assert set(paired["ratio"]) == {"p50_ms", "p99_ms"}
    assert stage["storage"]["total_bytes_per_event"] > 0
    assert stage["storage"]["raw_body_bytes_per_event"] > 0
    assert stage["intake"]["runs"][0]["ok"] > 0
    console = measured["console"]
    assert console["events"] == 120
    assert set(console["pages"]) == set(PAIRS)
    for pair in console["pages"].values():
        for side in ("console", "api"):
            (run,) = pair[side]["runs"]
            assert run["statuses"] == {"200": run["requests"]}
            assert run["requests"] > 0
        assert pair["p50_ratio"] is not None
        assert pair["p99_ratio"] is not None
    if kind == "postgres":
        assert bench_schemas(backends.postgres_url) == []
    else:
        assert [p.name for p in backends.workdir.iterdir()] == ["logs"]

    markdown = tmp_path / "BENCHMARKS.md"
    markdown.write_text(f"# Benchmarks\n\nHow we measure.\n\n{BEGIN}\nold figures\n{END}\n\nEnd.\n")
    path = write_results(results, tmp_path / "results")
    update_benchmarks_md(markdown, results, path)
    assert orjson.loads(path.read_bytes())["backends"][kind]["stages"]
    text = markdown.read_text()
    assert text.startswith("# Benchmarks\n\nHow we measure.\n\n")
    assert text.endswith(f"{END}\n\nEnd.\n")
    assert "old figures" not in text
    assert "### Intake over HTTP" in text
    assert "### Growth" in text
    assert "### Console pages beside the /v1 routes" in text
    assert "`ticket-audit import` of an NDJSON file" in text
    assert "beside the naive receiver's answer" in text
    # Each figure the read side is held to, beside its target, with a verdict.
    targets = text.split("### Each figure beside its target")[1].split("###")[0]
    for figure in (
        "`ticket-audit import`",
        "intake, service / naive req/s",
        "intake p99, service / naive",
        "`ticket-audit rebuild`",
        "rebuild peak RSS",
        "database size / raw bodies",
        "`/v1/tickets/{ticket}` p99",
        "`/v1/tickets/{ticket}/history?limit=100` p99",
        "`/v1/changes?eventId={event}` p99",
    ):
        (line,) = [line for line in targets.splitlines() if figure in line]
        assert line.endswith(("| met |", "| missed |")), line


def test_rebuilds_beside_another_checkout_alternate_and_report_each_run(tmp_path: Path) -> None:
    # This checkout stands for both: the harness is what is checked here, not a difference.
    checkouts = [REPO_ROOT, REPO_ROOT]

    result = rounds_beside(Backends("", tmp_path / "bench"), "sqlite", 60, 1, checkouts)

    assert [run["events"] for run in result["runs"]] == [60, 60]
    for run in result["runs"]:
        assert run["events_per_s"] > 0
        assert run["command_cpu_us_per_event"] > 0
    assert set(result["medians"]) == {str(REPO_ROOT)}
    assert list((tmp_path / "bench").iterdir()) == []


def test_a_second_full_run_on_one_day_keeps_the_first(tmp_path: Path) -> None:
    morning = {"date": "2026-12-08T00:11:05+00:00", "plan": {"mode": "full"}, "run": 1}
    evening = {**morning, "date": "2026-12-08T19:42:30+00:00", "run": 2}

    first = write_results(morning, tmp_path)
    second = write_results(evening, tmp_path)

    assert (first.name, second.name) == ("2026-12-08.json", "2026-12-08-1942.json")
    assert orjson.loads(first.read_bytes())["run"] == 1
    assert orjson.loads(second.read_bytes())["run"] == 2

"""The outage benchmark's arithmetic, on answers whose figures are known."""

from __future__ import annotations

from bench.outage import Answered, figures

DOWN_AT = 10.0
UP_AT = 20.0


def test_the_figures_count_from_the_outage_and_the_restart() -> None:
    answers = [
        Answered(9.0, 9.01, 201),  # before the outage: not counted
        Answered(10.5, 13.5, 503),  # the first write to find storage gone
        Answered(11.0, 11.01, 503),
        Answered(12.0, 12.02, 503),
        Answered(19.9, 20.3, 201),  # sent while down, recorded after the restart
        Answered(20.1, 20.11, 503),  # before the probe closed the circuit
        Answered(20.2, 20.25, 201),
        Answered(20.4, 20.41, 201),
    ]

    result = figures(answers, DOWN_AT, UP_AT)

    assert result.refused_while_down == 3
    assert round(result.median_503_seconds or 0, 3) == 0.02
    assert round(result.restart_to_first_201_seconds or 0, 3) == 0.25
    assert (result.refused_after_restart, result.refused_after_first_201) == (1, 0)
    assert result.recorded_after_restart == 3

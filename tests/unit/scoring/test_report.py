"""The scoreboard's outputs: the terminal table, the JSON document, the self-contained HTML page, /metrics."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from producer.cli import main
from producer.scoring.exporter import SCORE_METRIC_NAMES, ScoreCollector, serve
from producer.scoring.html import render_html
from producer.scoring.report import render_text, write_json
from producer.scoring.score import score
from tests.unit.scoring.test_score import TX, alarm, eid, truth  # noqa: F401  (truth is a fixture)


@pytest.fixture
def board(truth):  # noqa: F811
    alarms = [alarm("drift", 100), alarm("drift", 450), alarm("anomaly", 12, event_id=eid(12))]
    return score(truth, alarms)


def test_json_report_holds_every_score(board, truth, tmp_path):  # noqa: F811
    path = tmp_path / "score.json"
    write_json(board, truth, path)
    data = json.loads(path.read_text())
    assert data["detectors"] == [
        {"detector": "d", "alarms": 3, "false_alarms_per_hour": pytest.approx(9.0), "unmatched_anomaly_alarms": 0}
    ]
    (drift,) = data["drift"]
    assert drift["detected"] and drift["delay_seconds"] == 50.0 and drift["delay_events"] == 51
    assert drift["start"] == "2026-03-02T08:06:40+00:00" and drift["first_alarm"] == "2026-03-02T08:07:30+00:00"
    fraud = next(p for p in data["patterns"] if p["pattern"] == "fraud")
    assert (fraud["true_positives"], fraud["precision"], fraud["recall"]) == (1, 1.0, 0.1)
    assert {e["episode_id"]: e["time_to_detect_seconds"] for e in data["episodes"]} == {
        "e-fraud": 2.0,
        "e-velocity": None,
    }


def test_terminal_table_and_html_page_show_the_scores_and_a_timeline(board, truth):  # noqa: F811
    text = render_text(board, truth)
    assert re.search(r"d\s+fintech\.transactions\s+0\s+detected\s+50\.0\s+51", text)
    assert re.search(r"d\s+fintech\.transactions\s+1\s+0\.1111\s+9\.0", text)
    page = render_html(board, truth)
    assert page.startswith("<!doctype html>") and "<svg" in page and "</svg>" in page
    # self-contained: no script, stylesheet or image fetched from anywhere
    assert not re.search(r"""(src|href)\s*=|@import|<script|<link""", page)
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert svg.count("<polyline") == 2  # drift progress of both drifting topics
    assert "alarm: d" in svg and "fintech.transactions" in svg and "telco.accounts" in svg
    drift_marks = re.findall(r'<line x1="([\d.]+)" y1="(\d+)" x2="[\d.]+" y2="(\d+)" stroke="#d62728"', svg)
    assert len(drift_marks) == 3  # two drift alarms at full lane height, one anomaly tick


def test_metrics_endpoint_serves_every_score_gauge(board, truth):  # noqa: F811
    collector = ScoreCollector()
    collector.update(board, truth)
    port = serve(collector, 0, "127.0.0.1")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        body = response.read().decode()
    exposed = {line.split("{")[0].split(" ")[0] for line in body.splitlines() if not line.startswith("#")}
    assert set(SCORE_METRIC_NAMES) <= exposed
    assert (
        'datagen_score_detection_delay_seconds{detector="d",episode="tx-ramp",topic="fintech.transactions"} 50.0'
        in body
    )
    assert 'datagen_score_false_alarms_per_hour{detector="d",topic="fintech.transactions"} 9.0' in body


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--watch", "adwin"], "--watch: expected DETECTOR=TOPIC or DETECTOR=TOPIC:anomaly, found 'adwin'"),
        (["--watch", "a=t:shift"], "--watch: expected DETECTOR=TOPIC"),
        (["--json", "/no/such/folder/s.json"], "--json: expected a file in an existing folder"),
        (["--until-idle", "soon"], "--until-idle: expected"),
    ],
)
def test_bad_flags_exit_2_with_one_line(argv, message, capsys):
    try:
        code = main(["score", "--bootstrap-servers", "127.0.0.1:1", *argv])
    except SystemExit as exc:  # argparse's own errors exit from the parser
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err

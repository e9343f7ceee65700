"""Delayed labels: the delay distributions and shares measured on large seeded samples; config errors."""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest

from producer.cli import main
from producer.encoding.delayed_labels import delay_seconds, uniform
from producer.scenario.model import DAY, Chargeback, ConfirmedFraud, LabelDelay

N = 100_000
IDS = [f"00000000-0000-4000-8000-{i:012x}" for i in range(N)]


def truncated_quantile(delay: LabelDelay, q: float) -> float:
    """The q-quantile of the distribution truncated to [min, max], computed independently."""
    if delay.distribution == "lognormal":
        assert delay.median is not None
        normal = NormalDist(math.log(delay.median), delay.sigma)
        low = normal.cdf(math.log(delay.min)) if delay.min > 0 else 0.0
        return math.exp(normal.inv_cdf(low + q * (normal.cdf(math.log(delay.max)) - low)))
    assert delay.mean is not None
    low, high = 1 - math.exp(-delay.min / delay.mean), 1 - math.exp(-delay.max / delay.mean)
    return -delay.mean * math.log(1 - (low + q * (high - low)))


@pytest.mark.parametrize(
    "delay",
    [
        ConfirmedFraud().delay,  # lognormal, median 2.5 days, sigma 0.8, 1 h to 30 days
        Chargeback().delay,  # lognormal, median 30 days, sigma 0.5, 3 to 120 days
        LabelDelay(distribution="exponential", mean=2 * DAY, max=10 * DAY),
    ],
    ids=["confirmed_fraud", "chargeback", "exponential"],
)
def test_delays_follow_the_truncated_distribution(delay: LabelDelay):
    days = np.array([delay_seconds(delay, uniform(7, "confirmed_fraud", i, 1)) for i in IDS]) / DAY
    assert delay.min / DAY <= days.min() and days.max() <= delay.max / DAY
    for q in (0.1, 0.5, 0.9):
        expected = truncated_quantile(delay, q) / DAY
        # 100k draws, seed 7: each quantile within 2% of the truncated distribution's (its standard error is ~0.5%)
        assert abs(np.quantile(days, q) / expected - 1) < 0.02, (q, np.quantile(days, q), expected)


def test_default_medians_are_days_for_investigations_and_a_month_for_chargebacks():
    assert 2.4 < truncated_quantile(ConfirmedFraud().delay, 0.5) / DAY < 2.5
    assert 29.5 < truncated_quantile(Chargeback().delay, 0.5) / DAY < 30.5


def test_a_share_is_the_fraction_of_uniform_draws_below_it_and_kinds_draw_independently():
    fraud = np.array([uniform(7, "confirmed_fraud", i, 0) for i in IDS])
    chargeback = np.array([uniform(7, "chargeback", i, 0) for i in IDS])
    # 100k draws, seed 7: shares within 0.6 percentage points (4 standard deviations)
    assert abs((fraud < 0.6).mean() - 0.6) < 0.006 and abs((chargeback < 0.7).mean() - 0.7) < 0.006
    assert abs(np.corrcoef(fraud, chargeback)[0, 1]) < 0.02
    assert (
        uniform(7, "chargeback", IDS[0], 0)
        == uniform(7, "chargeback", IDS[0], 0)
        != uniform(8, "chargeback", IDS[0], 0)
    )


BASE = """name: bad
streams: {fintech.transactions: {}, fintech.sessions: {}}
phases: [{name: a, duration: 1m, rate: 10}]
delayed_labels:
"""


@pytest.mark.parametrize(
    ("block", "path"),
    [
        ("  confirmed_fraud: {share: 1.5}", "delayed_labels.confirmed_fraud.share"),
        ("  chargeback: {delay: {distribution: exponential, median: 3d}}", "delayed_labels.chargeback.delay.mean"),
        ("  chargeback: {delay: {median: 3d, mean: 2d}}", "delayed_labels.chargeback.delay.mean"),
        ("  chargeback: {delay: {median: 3d, min: 5d}}", "delayed_labels.chargeback.delay.median"),
        ("  chargeback: {patterns: [structuring, nope]}", "delayed_labels.chargeback.patterns[1]"),
        ("  at_end: later", "delayed_labels.at_end"),
        ("  delay: 3d", "delayed_labels.delay"),
        (
            "  confirmed_fraud: {streams: {fintech.circles: {patterns: [fraud], event_types: [circle-created]}}}",
            "delayed_labels.confirmed_fraud.streams.fintech.circles",
        ),
        (
            "  confirmed_fraud: {streams: {fintech.sessions: {patterns: [fraud], event_types: [login-success]}}}",
            "delayed_labels.confirmed_fraud.streams.fintech.sessions.patterns[0]",
        ),
        (
            "  confirmed_fraud: {streams: {fintech.sessions: {patterns: [account_takeover], event_types: [login]}}}",
            "delayed_labels.confirmed_fraud.streams.fintech.sessions.event_types[0]",
        ),
    ],
)
def test_a_bad_delayed_labels_block_is_one_line_with_its_field_path_and_exit_2(tmp_path: Path, capsys, block, path):
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(BASE + block + "\n")
    assert main(["run", str(scenario), "--sink", "file", "--out", str(tmp_path / "out"), "--no-metrics"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{scenario}: {path}: expected " in err, err


def test_datagen_schema_prints_the_labels_schema(capsys):
    assert main(["schema", "labels"]) == 0
    assert '"name":"Label"' in capsys.readouterr().out

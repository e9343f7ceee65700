from producer.scheduling.loop import MAX_BATCH, Pacer


def test_pacer_spreads_fractional_rates_exactly():
    pacer = Pacer(tick=0.02)
    total = sum(pacer.batch(130.0) for _ in range(500))  # 10 s at 130/s
    assert total in (1299, 1300)


def test_pacer_never_accumulates_more_than_two_ticks():
    pacer = Pacer(tick=0.02)
    assert pacer.batch(1000.0) == 20
    assert pacer.batch(1000.0) == 20


def test_pacer_max_is_a_fixed_batch():
    assert Pacer().batch(None) == MAX_BATCH

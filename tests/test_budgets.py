import json

import pytest
from hypothesis import given, settings, strategies as st

import hwprune
from hwprune.budgets import as_schedule, deserialize, serialize


def test_polynomial_matches_tfmot_polynomial_decay_shape():
    b = hwprune.PolynomialBudget(final=0.2, initial=1.0, begin=2, end=12, power=3)
    assert b(0) == 1.0 and b(2) == 1.0
    assert b(12) == pytest.approx(0.2) and b(100) == pytest.approx(0.2)
    # tfmot: sparsity = final + (initial - final) * (1 - p)^power; fractions kept mirror it
    assert b(7) == pytest.approx(0.2 + 0.8 * 0.5 ** 3)
    values = [b(t) for t in range(0, 14)]
    assert values == sorted(values, reverse=True)


def test_should_prune_window_and_frequency():
    b = hwprune.PolynomialBudget(final=0.5, begin=2, end=9, frequency=3)
    assert [t for t in range(12) if b.should_prune(t)] == [2, 5, 8, 9]
    c = hwprune.ConstantBudget(0.5, begin=1, end=-1, frequency=2)
    assert [t for t in range(8) if c.should_prune(t)] == [1, 3, 5, 7]


@pytest.mark.parametrize('schedule', [hwprune.ConstantBudget(0.3, begin=1, end=5, frequency=2),
                                      hwprune.PolynomialBudget(final=0.1, initial=0.9, begin=3, end=30, power=2.0)])
def test_config_round_trip_json_native(schedule):
    config = schedule.get_config()
    assert json.loads(json.dumps(config)) == config
    assert type(schedule).from_config(config) == schedule
    assert deserialize(json.loads(json.dumps(serialize(schedule)))) == schedule


@given(st.floats(0.01, 1.0), st.integers(0, 50), st.integers(1, 50), st.floats(0.5, 5))
@settings(max_examples=50, deadline=None)
def test_polynomial_stays_between_final_and_initial(final, begin, span, power):
    b = hwprune.PolynomialBudget(final=final, begin=begin, end=begin + span, power=power)
    for t in range(0, begin + span + 5):
        assert final - 1e-12 <= b(t) <= 1.0 + 1e-12


@pytest.mark.parametrize('call,argument', [
    (lambda: hwprune.ConstantBudget(0.0), 'fraction'),
    (lambda: hwprune.ConstantBudget(1.5), 'fraction'),
    (lambda: hwprune.ConstantBudget(float('nan')), 'fraction'),
    (lambda: hwprune.PolynomialBudget(final=0.5, initial=0.2), 'initial'),
    (lambda: hwprune.PolynomialBudget(final=0.5, begin=5, end=2), 'end'),
    (lambda: hwprune.PolynomialBudget(final=0.5, end=-1), 'end'),
    (lambda: hwprune.PolynomialBudget(final=0.5, frequency=0), 'frequency'),
    (lambda: hwprune.PolynomialBudget(final=0.5, power=0), 'power'),
    (lambda: as_schedule('half'), 'budget'),
    (lambda: as_schedule(0), 'budget'),
    (lambda: deserialize({'class_name': 'Nope', 'config': {}}), 'config'),
])
def test_bad_input(call, argument):
    with pytest.raises((ValueError, TypeError), match=f'`{argument}`.*Received'):
        call()


def test_as_schedule_accepts_fraction_and_serialized():
    assert as_schedule(0.25) == hwprune.PolynomialBudget(final=0.25, end='auto')
    p = hwprune.PolynomialBudget(final=0.3)
    assert as_schedule(serialize(p)) == p

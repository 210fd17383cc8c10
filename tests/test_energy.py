"""Energy target: hand-computed layer energies, zero gating, additivity, priorities, sparsity probe."""

import json
import subprocess
import sys

import numpy as np
import pytest

from hwprune.targets.base import LayerInfo, LayerState
from hwprune.targets.energy import DATA, LEVELS, Energy, LayerShape, default_accesses

DENSE = LayerInfo('fc', 'dense', (4, 2), input_shape=(4,), output_shape=(2,))
CONV = LayerInfo('conv', 'conv2d', (3, 3, 16, 32), input_shape=(6, 6, 16), output_shape=(4, 4, 32))


def test_dense_energy_by_hand():
    e = Energy(activation_sparsity={'fc': 0.5})
    m = e.layer_model(DENSE, ['energy', 'MACs', 'params'])
    # per MAC: MAC 0.5 + weight RF 0.5 + input RF 1 + psum RF 2 * 0.5 = 3; per weight DRAM+buffer+array = 208
    # inputs: 4 x 208; outputs: 2 x 208
    assert m.usage(np.ones((4, 2))).tolist() == [8 * (3 + 208) + 4 * 208 + 2 * 208, 8, 8]
    kernel = np.ones((4, 2))
    kernel[0] = 0
    assert m.usage(kernel).tolist() == [6 * 211 + 6 * 208, 6, 6]


def test_conv_energy_by_hand():
    e = Energy(zero_gating=False)
    m = e.layer_model(CONV, ['energy'])
    P, nnz = 16, 3 * 3 * 16 * 32
    # weights: DRAM 1 + buffer 1 + array H_out=4; per MAC: MAC 1 + RF (1 + 1 + 2)
    per_weight = 200 + 6 + 2 * 4 + P * (1 + 4)
    # inputs (576 values): DRAM 1, buffer ceil(32/16)=2, array Kh*2=6
    # outputs (512 values): DRAM 1, buffer 2*1-1=1, array 3*1=3
    inputs = 576 * (200 + 6 * 2 + 2 * 6)
    outputs = 512 * (200 + 6 * 1 + 2 * 3)
    assert m.usage(np.ones(CONV.kernel_shape))[0] == nnz * per_weight + inputs + outputs
    b = m.breakdown(np.ones(CONV.kernel_shape))
    assert b['compute'] == nnz * P
    assert b['weights'] == nnz * (200 + 6 + 2 * 4 + P)          # traffic + one RF read per MAC
    assert b['psums'] == outputs + nnz * P * 2
    assert b['inputs'] == inputs + nnz * P
    assert b['compute'] + b['data'] == pytest.approx(b['total'])
    assert sum(b[d] for d in DATA) == pytest.approx(b['data'])
    assert sum(b[level] for level in LEVELS) == pytest.approx(b['data'])
    assert b['DRAM'] == 200 * (nnz + 576 + 512)
    assert b['RF'] == nnz * P * 4


def test_default_accesses_follow_layer_shape():
    s = LayerShape.from_info(CONV)
    assert (s.positions, s.kh, s.kw, s.in_channels, s.filters, s.out_rows, s.n_inputs, s.n_outputs) == \
        (16, 3, 3, 16, 32, 4, 576, 512)
    a = default_accesses(s, filters_per_pass=8, channels_per_pass=4)
    assert a['inputs']['buffer'] == 4 and a['inputs']['array'] == 12
    assert a['psums']['buffer'] == 7 and a['psums']['array'] == 12
    assert LayerShape.from_info(LayerInfo('c', 'conv1d', (5, 3, 8), input_shape=(20, 3),
                                          output_shape=(16, 8))).positions == 16


def test_zero_gating_uses_measured_sparsity():
    kernel = np.ones(CONV.kernel_shape)
    off = Energy(zero_gating=False, activation_sparsity={'conv': 0.75}).layer_model(CONV, ['energy']).usage(kernel)
    on = Energy(zero_gating=True, activation_sparsity={'conv': 0.75}).layer_model(CONV, ['energy']).usage(kernel)
    macs = kernel.size * 16
    # gating saves the MAC, the weight RF read and the 2 psum RF accesses of 75% of the MACs
    assert off[0] - on[0] == pytest.approx(0.75 * macs * (1 + 1 + 2))
    dense_default = Energy(default_sparsity=0.75).layer_model(CONV, ['energy']).usage(kernel)
    assert dense_default[0] == on[0]


def test_overrides():
    e = Energy(level_costs={'DRAM': 100.0}, mac_cost=2.0, accesses={'weights': {'DRAM': 0.0, 'RF': 2.0}},
               zero_gating=False)
    m = e.layer_model(DENSE, ['energy'])
    per_weight = 2 + 2 + 1 + 2 + (0 * 100 + 6 + 2)     # MAC 2, weight RF 2, input RF 1, psum RF 2
    assert m.usage(np.ones((4, 2)))[0] == 8 * per_weight + (4 + 2) * (100 + 6 + 2)


@pytest.mark.parametrize('granularity', ['weight', 'filter'])
def test_costs_add_up_exactly(granularity):
    e = Energy(activation_sparsity={'conv': 0.3}, granularity=granularity)
    m = e.layer_model(CONV, ['energy', 'MACs', 'params'])
    rng = np.random.default_rng(0)
    for _ in range(5):
        keep = rng.random(m.layout.n_groups) < 0.6
        kernel = rng.normal(size=CONV.kernel_shape) * m.layout.expand(keep)
        assert np.allclose(m.usage(kernel), m.fixed + m.layout.alive(kernel) @ m.group_costs)


def test_summary_breakdown():
    e = Energy(activation_sparsity={'conv': 0.25})
    m = e.layer_model(CONV, ['energy'])
    s = e.summary(m, np.ones(CONV.kernel_shape))
    assert s['input_sparsity'] == 0.25
    assert s['compute'] + s['data'] == pytest.approx(m.usage(np.ones(CONV.kernel_shape))[0], rel=1e-6)
    assert set(DATA) <= set(s) and set(LEVELS) <= set(s)
    assert json.loads(json.dumps(s)) == s


def test_energy_priority_prunes_hungry_layers_first():
    small = LayerInfo('small', 'dense', (8, 8), input_shape=(8,), output_shape=(8,))
    big = LayerInfo('big', 'conv2d', (3, 3, 8, 8), input_shape=(10, 10, 8), output_shape=(8, 8, 8))

    def kept_fraction(beta):
        e = Energy(energy_priority=beta)
        states = []
        for info, importance in ((small, 1.0), (big, 1.5)):
            m = e.layer_model(info, ['params'])
            kernel = np.ones(info.kernel_shape)
            states.append(LayerState(m, kernel, np.ones(m.layout.n_groups, bool),
                                     np.full(m.layout.n_groups, importance)))
        total = sum(s.model.usage(s.kernel)[0] for s in states)
        keeps = e.select(states, [0.5 * total])
        return [float(k.mean()) for k in keeps]

    plain, weighted = kept_fraction(0.0), kept_fraction(2.0)
    assert plain == [0.0, 320 / 576]       # by importance alone the conv keeps its weights
    assert weighted == [1.0, 256 / 576]    # the energy-hungry conv gives up weights first


@pytest.mark.parametrize('kwargs, argument', [
    (dict(activation_sparsity={'a': 1.5}), "activation_sparsity['a']"),
    (dict(default_sparsity=-0.1), 'default_sparsity'),
    (dict(level_costs={'L2': 3.0}), 'level_costs'), (dict(level_costs={'DRAM': -1.0}), "level_costs['DRAM']"),
    (dict(mac_cost=-1.0), 'mac_cost'), (dict(accesses={'bias': {}}), 'accesses'),
    (dict(accesses={'weights': {'L3': 1.0}}), "accesses['weights']"), (dict(filters_per_pass=0), 'filters_per_pass'),
    (dict(channels_per_pass=-4), 'channels_per_pass'), (dict(granularity='block'), 'granularity'),
    (dict(energy_priority=-1.0), 'energy_priority'),
])
def test_bad_arguments_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f'`{argument}`'.replace('[', '\\[').replace(']', '\\]')):
        Energy(**kwargs)


def test_conv_without_shapes_is_rejected():
    with pytest.raises(ValueError, match='`info.input_shape`'):
        Energy().layer_model(LayerInfo('c', 'conv2d', (3, 3, 4, 4)), ['energy'])


def test_config_round_trip_and_no_tensorflow():
    e = Energy(activation_sparsity={'a': 0.25}, default_sparsity=0.1, zero_gating=False, level_costs={'DRAM': 150},
               mac_cost=0.5, accesses={'inputs': {'buffer': 3.0}}, filters_per_pass=8, channels_per_pass=4,
               granularity='filter', energy_priority=1.0)
    config = json.loads(json.dumps(e.get_config()))
    again = Energy.from_config(config)
    assert again.get_config() == e.get_config()
    assert np.array_equal(again.layer_model(CONV, ['energy']).group_costs, e.layer_model(CONV, ['energy']).group_costs)
    code = "import sys, hwprune.targets.energy; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == 'False'


# ------------------------------------------------------------------ Keras: activation sparsity and the callback


def test_measure_activation_sparsity():
    tf = pytest.importorskip('tensorflow')
    from hwprune.keras.activations import measure_activation_sparsity
    keras = tf.keras
    inp = keras.Input((3,))
    h = keras.layers.Dense(4, activation='relu', name='a')(inp)
    out = keras.layers.Dense(2, name='b')(h)
    model = keras.Model(inp, out)
    model.get_layer('a').set_weights([np.array([[1., -1., 0., 0.]] * 3), np.zeros(4)])
    x = np.concatenate([np.ones((6, 3)), np.zeros((2, 3))]).astype('float32')
    got = measure_activation_sparsity(model, x, batch_size=3)
    # input of 'a': 2 of 8 samples are zeros; of 'b': 3 of 4 units are zero for ones, all 4 for zeros
    assert got == {'a': pytest.approx(0.25), 'b': pytest.approx((6 * 3 + 2 * 4) / 32)}
    assert list(measure_activation_sparsity(model, x, layers=['b'])) == ['b']
    with pytest.raises(ValueError, match='`layers`'):
        measure_activation_sparsity(model, x, layers=['nope'])
    with pytest.raises(ValueError, match='`batch_size`'):
        measure_activation_sparsity(model, x, batch_size=0)
    with pytest.raises(TypeError, match='`model`'):
        measure_activation_sparsity('model', x)


def test_callback_reaches_energy_budget():
    pytest.importorskip('tensorflow')
    import hwprune
    from hwprune.keras.activations import measure_activation_sparsity
    from digits_fixtures import digits_model
    model, x, y = digits_model()
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    sparsity = measure_activation_sparsity(model, x[:200])
    assert 0.3 < sparsity['conv1'] < 0.7             # digits: about half the pixels are blank
    target = Energy(activation_sparsity=sparsity)
    before = hwprune.estimate(model, target)
    cb = hwprune.HardwarePruning(target, resources=['energy'], budget=hwprune.PolynomialBudget(final=0.6, end=2),
                                 method='greedy', verbose=0)
    model.fit(x, y, epochs=3, batch_size=64, verbose=0, callbacks=[cb])
    after = hwprune.estimate(model, target)
    assert after.total['energy'] <= 0.6 * before.total['energy'] * (1 + 1e-9)
    assert after.details['conv1']['input_sparsity'] == round(sparsity['conv1'], 4)

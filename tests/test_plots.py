"""Pictures: each function draws the numbers it is given, labels them, and writes a PNG when asked."""

import math

import matplotlib

matplotlib.use('Agg')

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import imread  # noqa: E402

from hwprune import plots  # noqa: E402
from hwprune.layouts import bram_layout, dsp_layout, neuron_layout  # noqa: E402
from hwprune.report import Report  # noqa: E402
from hwprune.targets import FPGALayerSettings, FPGATarget, LayerInfo, SystolicArray  # noqa: E402

BEFORE = Report({'fc1': {'DSP': 512, 'BRAM': 228}, 'fc2': {'DSP': 1024, 'BRAM': 456}, 'out': {'DSP': 80, 'BRAM': 36}},
                target='fpga')
AFTER = Report({'fc1': {'DSP': 128, 'BRAM': 57}, 'fc2': {'DSP': 256, 'BRAM': 0}, 'out': {'DSP': 80, 'BRAM': 36}},
               target='fpga')


def _png(path):
    image = imread(str(path))
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    return image


def _bar_heights(ax):
    return [p.get_height() for p in ax.patches]


# ----------------------------------------------------------------------------- budget_history
def _records():
    return [{'step': 0, 'fractions': [0.8, 0.9], 'capacity': [80.0, 45.0], 'usage': {'DSP': 78.0, 'BRAM': 44.0},
             'sparsity': 0.2},
            {'step': 2, 'fractions': [0.5, 0.7], 'capacity': [50.0, 35.0], 'usage': {'DSP': 49.0, 'BRAM': 30.0},
             'sparsity': 0.5}]


def test_budget_history_from_records_draws_use_budget_and_sparsity(tmp_path):
    fig = plots.budget_history(_records(), initial={'DSP': 100.0, 'BRAM': 50.0}, path=tmp_path / 'h.png')
    assert isinstance(fig, Figure)
    dsp, bram, sparsity = fig.axes
    assert dsp.get_ylabel() == 'DSP' and bram.get_ylabel() == 'BRAM' and dsp.get_xlabel() == 'epoch'
    assert dsp.get_title() == 'DSP: 100 \u2192 49 (49% of initial)'
    lines = {line.get_label(): line for line in dsp.get_lines()}
    assert list(lines['use after pruning step'].get_ydata()) == [78.0, 49.0]
    assert list(lines['budget'].get_ydata()) == [80.0, 50.0]
    assert list(lines['initial'].get_ydata()) == [100.0, 100.0]
    assert list(sparsity.get_lines()[0].get_ydata()) == [20.0, 50.0]
    assert sparsity.get_ylabel() == 'zero weights (%)'
    assert [t.get_text() for t in dsp.get_legend().get_texts()] == ['use after pruning step', 'budget', 'initial']
    assert _png(tmp_path / 'h.png').shape[2] in (3, 4)


def test_budget_history_from_keras_logs_and_callback_like_object():
    logs = {'loss': [1.0, 0.9, 0.8], 'hwprune_DSP': [90.0, 60.0, 55.0], 'hwprune_DSP_budget': [95.0, 62.0, 55.0],
            'hwprune_sparsity': [0.1, 0.4, 0.45]}

    class History:  # what keras.callbacks.History holds
        history = logs
        epoch = [5, 6, 7]

    class Callback:  # the public attributes of HardwarePruning read by the plot
        history = [{'step': 5, 'capacity': [95.0], 'usage': {'DSP': 90.0}, 'sparsity': 0.1}]
        initial_usage = np.array([100.0])
        resources_ = ('DSP',)
        update = 'epoch'

    fig = plots.budget_history(Callback(), History(), resources=['DSP'])
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines['use (epoch end)'].get_xdata()) == [5, 6, 7]
    assert list(lines['use (epoch end)'].get_ydata()) == [90.0, 60.0, 55.0]
    assert list(lines['budget'].get_ydata()) == [95.0, 62.0, 55.0]
    assert list(lines['use after pruning step'].get_ydata()) == [90.0]
    assert lines['initial'].get_ydata()[0] == 100.0
    assert ax.get_title() == 'DSP: 100 \u2192 55 (55% of initial)'
    only_logs = plots.budget_history(logs)  # a History dict alone
    assert [a.get_ylabel() for a in only_logs.axes] == ['DSP', 'zero weights (%)']


def test_budget_history_rejects_what_it_cannot_draw():
    with pytest.raises(ValueError, match='history'):
        plots.budget_history()
    with pytest.raises(TypeError, match='history'):
        plots.budget_history(42)
    with pytest.raises(ValueError, match='hwprune_'):
        plots.budget_history({'loss': [1.0]})
    with pytest.raises(ValueError, match='resources'):
        plots.budget_history(_records(), resources=['LUT'])


# ---------------------------------------------------------------------------- layer_resources
def test_layer_resources_bars_labels_factors(tmp_path):
    fig = plots.layer_resources(AFTER, BEFORE, path=tmp_path / 'r.png')
    dsp, bram = fig.axes
    assert _bar_heights(dsp) == [512, 1024, 80, 128, 256, 80]  # before bars, then after bars
    assert _bar_heights(bram) == [228, 456, 36, 57, 0, 36]
    assert dsp.get_title() == 'DSP: 1616 \u2192 464 (3.48x less)'
    assert bram.get_title() == 'BRAM: 720 \u2192 93 (7.74x less)'
    ticks = [t.get_text() for t in dsp.get_xticklabels()]
    assert ticks == ['fc1\n4.00x less', 'fc2\n4.00x less', 'out\nunchanged']
    assert [t.get_text() for t in bram.get_xticklabels()][1] == 'fc2\nall removed'
    assert dsp.get_ylabel() == 'DSP'
    assert [t.get_text() for t in dsp.get_legend().get_texts()] == ['before', 'after']
    labels = [t.get_text() for t in dsp.texts]
    assert labels == ['512', '1024', '80', '128', '256', '80']
    _png(tmp_path / 'r.png')


def test_layer_resources_single_report_comparison_and_axes():
    fig = plots.layer_resources(AFTER, resources='DSP')
    assert len(fig.axes) == 1 and _bar_heights(fig.axes[0]) == [128, 256, 80]
    assert fig.axes[0].get_title() == 'DSP: 464 in total'
    same = plots.layer_resources(AFTER.compare(BEFORE), resources=['BRAM'])
    assert _bar_heights(same.axes[0]) == [228, 456, 36, 57, 0, 36]
    import matplotlib.pyplot as plt
    own, ax = plt.subplots()
    plt.close(own)
    assert plots.layer_resources(AFTER, BEFORE, ax=ax) is own
    assert len(ax.patches) == 12 and ax.get_xlabel() == 'layer'
    with pytest.raises(ValueError, match='resources'):
        plots.layer_resources(AFTER, resources=['LUT'])
    with pytest.raises(TypeError, match='report'):
        plots.layer_resources({'fc1': {}})


def test_many_layers_stay_readable():
    layers = {f'layer_{i:02d}': {'DSP': float(10 * i + 1)} for i in range(10)}
    fig = plots.layer_resources(Report(layers), Report({k: {'DSP': 2 * v['DSP']} for k, v in layers.items()}))
    ax = fig.axes[0]
    assert len(ax.patches) == 20 and ax.get_xticklabels()[0].get_rotation() == 30
    assert fig.get_size_inches()[0] <= 20


def test_report_plot_is_the_same_picture(tmp_path):
    fig = AFTER.plot(before=BEFORE, path=tmp_path / 'p.png')
    assert isinstance(fig, Figure) and _bar_heights(fig.axes[0]) == [512, 1024, 80, 128, 256, 80]
    assert fig.figure is fig  # old code did report.plot().figure.savefig(...)
    assert (tmp_path / 'p.png').stat().st_size > 1000
    assert _bar_heights(AFTER.compare(BEFORE).plot(['DSP']).axes[0]) == [512, 1024, 80, 128, 256, 80]


# ---------------------------------------------------------------------------------- mask maps
def test_hardware_view_is_the_transposed_kernel():
    k = np.arange(24).reshape(2, 3, 4)  # conv1d (fw=2, C=3, F=4)
    view = plots.hardware_view(k, 'conv1d')
    assert view.shape == (4, 6)
    assert np.array_equal(view, np.transpose(k, (2, 0, 1)).reshape(4, 6))
    assert plots.hardware_view(np.zeros((3, 3, 8, 1)), 'depthwise2d').shape == (9, 8)


def test_mask_map_colours_every_weight_by_its_group(tmp_path):
    layout = dsp_layout('dense', (4, 3), reuse_factor=2)  # W.T rows: [w0 w1 | w2 w3] per output
    kernel = np.ones((4, 3))
    kernel[:2, 0] = 0           # output 0, first DSP group: both weights zero -> pruned
    kernel[2, 1] = 0            # output 1, second group keeps w3: a zero inside a kept group
    fig = plots.mask_map(kernel, layout, 'dense', name='fc', reuse_factor=2, path=tmp_path / 'm.png')
    ax = fig.axes[0]
    state = np.asarray(ax.images[0].get_array())
    assert state.shape == (3, 4)  # outputs x inputs
    assert state.tolist() == [[2, 2, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert ax.get_title() == 'fc: 5/6 DSP groups kept, RF 2'
    assert ax.get_xlabel() == 'input' and ax.get_ylabel() == 'output neuron'
    segments = ax.collections[0].get_segments()
    # one boundary inside each row (between inputs 1 and 2) and 4 between each pair of rows
    assert len(segments) == 3 + 2 * 4
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ['kept group, weight \u2260 0', 'kept group, weight = 0',
                                                          'pruned group (freed)']
    assert legend.get_title().get_text() == '9/12 weights nonzero'
    _png(tmp_path / 'm.png')


def test_mask_map_transposes_tall_kernels_and_validates():
    kernel = np.ones((16, 64))
    fig = plots.mask_map(kernel, neuron_layout('dense', (16, 64)))
    ax = fig.axes[0]
    assert np.asarray(ax.images[0].get_array()).shape == (16, 64)  # inputs down, outputs across
    assert ax.get_xlabel() == 'output neuron' and ax.get_ylabel() == 'input'
    kept = plots.mask_map(kernel, neuron_layout('dense', (16, 64)), transpose=False)
    assert np.asarray(kept.axes[0].images[0].get_array()).shape == (64, 16)
    with pytest.raises(ValueError, match='kernel'):
        plots.mask_map(np.ones((3, 3)), neuron_layout('dense', (4, 3)))
    with pytest.raises(TypeError, match='layout'):
        plots.mask_map(kernel, 'dsp')


def test_mask_map_of_a_64x32_layer_in_bram_groups():
    layout = bram_layout('dense', (64, 32), reuse_factor=2, weight_bits=16)
    keep = np.zeros(layout.n_groups, bool)
    keep[::3] = True
    kernel = layout.expand(keep.astype(float))
    ax = plots.mask_map(kernel, layout, name='fc2').axes[0]
    assert ax.get_title() == f'fc2: {keep.sum()}/{layout.n_groups} BRAM groups kept'
    state = np.asarray(ax.images[0].get_array())
    assert np.array_equal(state == 0, plots.hardware_view(kernel != 0, 'dense'))
    assert set(np.unique(state)) == {0, 2}


def test_layer_mask_map_names_the_settings():
    target = FPGATarget(default=FPGALayerSettings(reuse_factor=2, strategy='resource_unrolled'))
    model = target.layer_model(LayerInfo('fc2', 'dense', (64, 32)), ['DSP', 'BRAM'])
    kernel = np.zeros((64, 32))
    kernel[:8] = 1.0
    title = plots.layer_mask_map(model, kernel).axes[0].get_title()
    assert title == 'fc2: 128/1024 DSP groups kept, RF 2 (resource_unrolled, 128 DSP)'
    bram = plots.layer_mask_map(model, kernel, 'bram').axes[0].get_title()
    assert bram.startswith('fc2: ') and 'BRAM groups kept' in bram and '9 DSP groups each' in bram
    assert plots.layer_mask_map(model, kernel, 'neuron').axes[0].get_title().startswith('fc2: 32/32 neurons kept')
    latency = FPGATarget(default=FPGALayerSettings(reuse_factor=4, strategy='latency'))
    lmodel = latency.layer_model(LayerInfo('fc2', 'dense', (64, 32)), ['DSP'])
    assert plots.layer_mask_map(lmodel, kernel).axes[0].get_title() == \
        'fc2: 256/2048 weights kept, RF 4 (latency, 64 DSP)'
    with pytest.raises(ValueError, match='groups'):
        plots.layer_mask_map(model, kernel, 'lut')
    with pytest.raises(ValueError, match='kernel'):
        plots.layer_mask_map(model, np.zeros((3, 3)))


def test_model_mask_map_of_a_keras_layer(tmp_path):
    tf = pytest.importorskip('tensorflow')
    import hwprune.keras

    model = tf.keras.Sequential([tf.keras.layers.Dense(32, input_shape=(64,), name='fc2')])
    kernel = np.zeros((64, 32), np.float32)
    kernel[:8] = 1.0
    model.layers[0].kernel.assign(kernel)
    target = FPGATarget(default=FPGALayerSettings(reuse_factor=2, strategy='resource_unrolled'))
    fig = hwprune.keras.model_mask_map(model, target, 'fc2', path=tmp_path / 'm.png')
    assert fig.axes[0].get_title() == 'fc2: 128/1024 DSP groups kept, RF 2 (resource_unrolled, 128 DSP)'
    assert (tmp_path / 'm.png').stat().st_size > 0
    with pytest.raises(ValueError, match='`layers`'):
        hwprune.keras.model_mask_map(model, target, 'fc9')


# --------------------------------------------------------------------------- other targets
def test_systolic_packing_shows_groups_and_utilisation(tmp_path):
    m = np.array([[1., 0., 0., 2.], [0., 3., 0., 0.], [4., 0., 5., 0.]])
    packing = SystolicArray(rows=2, cols=2, alpha=2, gamma=0.5).pack(m)
    fig = plots.systolic_packing(packing, name='fc', path=tmp_path / 's.png')
    left, right = fig.axes
    # every nonzero of the conflict-pruned matrix has its packed column's colour index (1-based)
    assert np.asarray(left.images[0].get_array()).tolist() == [[1, 0, 0, 2], [0, 1, 0, 0], [1, 0, 2, 0]]
    assert np.asarray(right.images[0].get_array()).tolist() == [[1, 2], [1, 0], [1, 2]]
    assert left.get_title().splitlines() == ['fc: filter matrix', '4 columns combined into 2 (2 each)']
    assert right.get_xlabel() == 'packed column' and left.get_ylabel() == 'filter'
    _png(tmp_path / 's.png')
    with pytest.raises(TypeError, match='packing'):
        plots.systolic_packing(m)


def test_pim_cycles_bars_and_mappings():
    details = {'conv': {'method': 'vw-sdk', 'window': '3x4', 'cycles_before': 32, 'method_before': 'sdk',
                        'window_before': '4x4', 'IC': 15, 'IC_before': 16},
               'fc': {'method': 'im2col', 'window': '1x1', 'cycles_before': 2, 'IC': 60, 'IC_before': 64}}
    report = Report({'conv': {'cycles': 24.0}, 'fc': {'cycles': 2.0}}, details=details, target='pim')
    fig = plots.pim_cycles(report)
    cycles, channels = fig.axes
    assert _bar_heights(cycles) == [32, 2, 24, 2]
    assert cycles.get_title() == 'cycles: 34 \u2192 26 (1.31x less)'
    assert '24\nvw-sdk 3x4' in [t.get_text() for t in cycles.texts]
    assert '32\nsdk 4x4' in [t.get_text() for t in cycles.texts]
    assert _bar_heights(channels) == [16, 64, 15, 60]
    explicit = plots.pim_cycles(report, before=Report({'conv': {'cycles': 40.0}, 'fc': {'cycles': 4.0}}))
    assert _bar_heights(explicit.axes[0]) == [40, 4, 24, 2]
    with pytest.raises(TypeError, match='cycles'):
        plots.pim_cycles(AFTER)


def test_energy_breakdown_stacks_to_the_total():
    details = {'fc': {'compute': 5.0, 'RF': 1.0, 'array': 2.0, 'buffer': 3.0, 'DRAM': 20.0,
                      'weights': 10.0, 'inputs': 12.0, 'psums': 4.0}}
    report = Report({'fc': {'energy': 31.0}}, details=details, target='energy')
    ax = plots.energy_breakdown(report).axes[0]
    assert sum(_bar_heights(ax)) == 31.0
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ['compute', 'RF', 'array', 'buffer', 'DRAM']
    by_data = plots.energy_breakdown(report, by='data').axes[0]
    assert sum(_bar_heights(by_data)) == 31.0
    with pytest.raises(ValueError, match='by'):
        plots.energy_breakdown(report, by='layer')
    with pytest.raises(ValueError, match='report'):
        plots.energy_breakdown(AFTER)


def test_short_numbers():
    assert [plots._short(v) for v in (12, 1.5, 12345, 4.1e6, math.inf)] == ['12', '1.5', '12.3k', '4.1M', 'inf']


def test_budget_history_leaves_out_resources_that_stay_zero():
    records = [{'step': 0, 'capacity': [80.0, 0.0], 'usage': {'DSP': 78.0, 'BRAM': 0.0}, 'sparsity': 0.2}]
    fig = plots.budget_history(records, initial={'DSP': 100.0, 'BRAM': 0.0})
    assert [ax.get_ylabel() for ax in fig.axes if ax.get_visible()] == ['DSP', 'zero weights (%)']
    forced = plots.budget_history(records, resources=['BRAM'])
    assert forced.axes[0].get_ylabel() == 'BRAM'


def test_mask_map_of_single_weights_has_no_kept_zero_entry():
    from hwprune.layouts import unstructured_layout
    kernel = np.eye(3)
    fig = plots.mask_map(kernel, unstructured_layout('dense', (3, 3)))
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ['kept group, weight \u2260 0', 'pruned group (freed)']
    assert fig.axes[0].get_title() == '3/9 weights kept'

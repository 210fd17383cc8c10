"""The hls4ml config reader against hls4ml 1.3's own resolution (HLSConfig, precision parser, QKeras)."""

import copy
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml
from hypothesis import given, settings, strategies as st

from hwprune.hls.config import (
    hls_class_name, hwprune_option, layer_settings, load_hls_config, parse_precision_bits, read_hls_config,
    target_from_hls_config,
)
from hwprune.keras.layers import describe_layers, resolve_units
from hwprune.keras.quantized import quantizer_weight_bits
from hwprune.targets.fpga import FPGALayerSettings, FPGATarget
from stack import qkeras_module

PRECISIONS = ['ap_fixed<16,6>', 'fixed<8,3>', 'ap_int<8>', 'ap_ufixed<10,2>', 'ap_uint<4>', 'int<3>', 'uint<7>',
              'ufixed<12,4>', 'fixed<8,3,TRN,WRAP,0>', 'ap_fixed<18,8,AP_RND_CONV,AP_SAT>', 'ap_fixed<16, 6>',
              'ac_fixed<16,6,true>', 'ac_int<8,false>', 'fixed<6,1,RND_CONV,SAT>', 'ap_fixed<4,-2>', 'float',
              'double', 'half', 'ap_float<32,8>']


@pytest.mark.parametrize('precision', PRECISIONS)
def test_precision_bits_match_hls4ml(precision):
    from hls4ml.backends.fpga.fpga_backend import FPGABackend

    assert parse_precision_bits(precision) == FPGABackend.convert_precision_string(precision).width


@pytest.mark.parametrize('bad', ['auto', 'fixed', 'ap_fixed<16>', 'fixed<a,b>', 'floaty', '', 'ap_fixed<0,0>', 16])
def test_precision_bits_rejects(bad):
    with pytest.raises(ValueError, match='Invalid value'):
        parse_precision_bits(bad)


# --------------------------------------------------------------------------------------------
# Key-by-key resolution, compared with hls4ml's HLSConfig


class _Layer:
    def __init__(self, name, class_name):
        self.name, self.class_name = name, class_name


def _hls4ml_config(hls_config):
    from hls4ml.model.graph import HLSConfig

    return HLSConfig({'Backend': 'Vivado', 'HLSConfig': copy.deepcopy(hls_config)})


rf_values = st.one_of(st.none(), st.integers(1, 64))
strategies = st.one_of(st.none(), st.sampled_from(['Latency', 'Resource', 'ResourceUnrolled', 'resource_unrolled']))
precisions = st.one_of(st.none(), st.sampled_from(['ap_fixed<16,6>', 'fixed<8,3>', 'ap_int<6>', 'ap_fixed<12,4>']))


@st.composite
def entries(draw):
    precision_dict = draw(st.booleans())
    entry = {}
    for key, value in (('ReuseFactor', draw(rf_values)), ('Strategy', draw(strategies))):
        if value is not None:
            entry[key] = value
    p = draw(precisions)
    if p is not None:
        entry['Precision'] = {draw(st.sampled_from(['weight', 'default'])): p} if precision_dict else p
    return entry


@settings(max_examples=150, deadline=None)
@given(entries(), st.one_of(st.none(), entries()), st.one_of(st.none(), entries()), st.sampled_from(['fc1', 'FC1']))
def test_resolution_matches_hls4ml(model_entry, type_entry, name_entry, name_key):
    model_entry.setdefault('ReuseFactor', 1)
    model_entry.setdefault('Precision', {'default': 'fixed<16,6>'})
    if isinstance(model_entry['Precision'], dict):
        model_entry['Precision'].setdefault('default', 'fixed<16,6>')
    cfg = {'Model': model_entry}
    if type_entry is not None:
        cfg['LayerType'] = {'Dense': type_entry}
    if name_entry is not None:
        cfg['LayerName'] = {name_key: name_entry}
    # layer_settings is what read_hls_config applies to each layer of a model (LayerType included)
    ours = layer_settings(load_hls_config(cfg), 'fc1', 'Dense')
    if type_entry is None:  # without a model only LayerName entries are resolved
        assert read_hls_config(cfg).layers.get(name_key, read_hls_config(cfg).default) == ours
    theirs = _hls4ml_config(cfg)
    layer = _Layer('fc1', 'Dense')
    assert ours.reuse_factor == theirs.get_reuse_factor(layer)
    assert ours.strategy == theirs.get_strategy(layer)
    assert ours.weight_bits == theirs.get_precision(layer, 'weight')[0].width


def test_read_without_model_and_defaults():
    cfg = {'Model': {'ReuseFactor': 4, 'Strategy': 'Resource', 'Precision': 'ap_fixed<18,8>'},
           'LayerName': {'fc1': {'ReuseFactor': 2},
                         'fc2': {'Strategy': 'Latency', 'Precision': {'weight': 'ap_int<6>'}}},
           'IOType': 'io_stream'}
    settings_ = read_hls_config(cfg)
    assert settings_.default == FPGALayerSettings(4, 'resource', 18, 'io_stream', False)
    assert settings_.layers['fc1'] == FPGALayerSettings(2, 'resource', 18, 'io_stream', False)
    assert settings_.layers['fc2'] == FPGALayerSettings(4, 'latency', 6, 'io_stream', False)
    assert read_hls_config(cfg, io_type='io_parallel').layers['fc1'].io_type == 'io_parallel'
    layers, default = settings_  # a named tuple
    assert default.reuse_factor == 4 and set(layers) == {'fc1', 'fc2'}


def test_pin_strategy_levels():
    cfg = {'Model': {'Strategy': 'Resource', 'ReuseFactor': 2},
           'LayerType': {'Conv2D': {'hwprune': {'pin_strategy': True}}},
           'LayerName': {'fc1': {'Strategy': 'Resource', 'hwprune': {'pin_strategy': True}},
                         'fc2': {'Strategy': 'Resource'}}}
    s = read_hls_config(cfg)
    assert s.layers['fc1'].pinned and not s.layers['fc2'].pinned and not s.default.pinned
    assert hwprune_option(cfg, 'conv', 'Conv2D', 'pin_strategy') is True
    assert hwprune_option(cfg, 'fc2', 'Dense', 'pin_strategy', False) is False
    cfg['Model']['hwprune'] = {'pin_strategy': True}
    assert read_hls_config(cfg).layers['fc2'].pinned
    with pytest.raises(ValueError, match='hwprune'):
        read_hls_config({'Model': {'hwprune': {'pin': True}}})
    with pytest.raises(ValueError, match='pin_strategy'):
        read_hls_config({'Model': {'hwprune': {'pin_strategy': 'yes'}}})


@pytest.mark.parametrize('entry, match', [
    ({'Strategy': 'Fastest'}, "LayerName'\\]\\['fc1'\\]\\['Strategy'\\].*fc1.*Fastest"),
    ({'Strategy': 'Unrolled'}, 'ResourceUnrolled'),
    ({'Strategy': 'distributed_arithmetic'}, 'distributed arithmetic'),
    ({'ReuseFactor': 0}, "ReuseFactor.*fc1.*Received.*=0"),
    ({'ReuseFactor': 2.5}, 'ReuseFactor'),
    ({'Precision': {'weight': 'fixd<8,3>'}}, "Precision'\\]\\['weight'\\].*fixd<8,3>"),
])
def test_validation_names_layer_and_value(entry, match):
    with pytest.raises(ValueError, match=match):
        read_hls_config({'Model': {'ReuseFactor': 1}, 'LayerName': {'fc1': entry}})


def test_io_type_validated():
    with pytest.raises(ValueError, match='io_type'):
        read_hls_config({'Model': {}}, io_type='io_serial')


def test_auto_without_model_warns(caplog):
    cfg = {'Model': {'Precision': {'default': 'fixed<14,6>'}}, 'LayerName': {'fc1': {'Precision': {'weight': 'auto'}}}}
    with caplog.at_level(logging.WARNING, logger='hwprune'):
        assert read_hls_config(cfg).layers['fc1'].weight_bits == 14
    assert "'fc1'" in caplog.text and 'auto' in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger='hwprune'):
        assert read_hls_config({'Model': {'Precision': 'auto'}}).default.weight_bits == 16
    assert 'assuming 16 bits' in caplog.text


def test_config_is_not_modified_and_yaml(tmp_path):
    cfg = {'Model': {'ReuseFactor': 2, 'Precision': 'fixed<16,6>'}, 'LayerName': {'fc1': {'Strategy': 'Resource'}}}
    before = copy.deepcopy(cfg)
    read_hls_config(cfg)
    target_from_hls_config(cfg)
    assert cfg == before
    path = tmp_path / 'cfg.yml'
    path.write_text(yaml.safe_dump(cfg))
    assert read_hls_config(path) == read_hls_config(cfg)
    full = tmp_path / 'hls4ml_config.yml'  # a project config as hls4ml writes it, with a custom tag
    full.write_text('Backend: Vitis\nIOType: io_stream\nKerasModel: !keras_model prj/keras_model.keras\n'
                    + yaml.safe_dump({'HLSConfig': cfg}))
    s = read_hls_config(str(full))
    assert s.layers['fc1'].io_type == 'io_stream' and s.layers['fc1'].strategy == 'resource'
    with pytest.raises(FileNotFoundError, match='hls_config'):
        read_hls_config(tmp_path / 'missing.yml')
    with pytest.raises(TypeError, match='hls_config'):
        read_hls_config(42)


def test_quantizer_bits_match_hls4ml():
    assert quantizer_weight_bits(None) is None
    assert quantizer_weight_bits({'class_name': 'quantized_bits', 'config': {'bits': 6, 'integer': 0}}) == 6
    assert quantizer_weight_bits({'class_name': 'ternary', 'config': {}}) == 2
    assert quantizer_weight_bits({'class_name': 'binary', 'config': {}}) == 1
    quantized_bits = qkeras_module().quantized_bits

    assert quantizer_weight_bits(quantized_bits(5, 2, alpha=1)) == 5
    assert quantizer_weight_bits('quantized_bits(7,1)') == 7


def test_hls_class_name():
    assert hls_class_name('QDense') == 'Dense'
    assert hls_class_name('QConv2DBatchnorm') == 'Conv2DBatchnorm'
    assert hls_class_name('MyDense', 'dense') == 'Dense'


def test_import_without_hls4ml():
    code = ("import sys; sys.modules['hls4ml'] = None\n"
            "from hwprune.hls.config import read_hls_config\n"
            "import hwprune.hls\n"
            "s = read_hls_config({'Model': {'ReuseFactor': 3, 'Precision': 'ap_fixed<10,4>'}})\n"
            "print(s.default.reuse_factor, s.default.weight_bits, hwprune.hls.PASSES_REGISTERED)")
    env = {'TF_CPP_MIN_LOG_LEVEL': '2', 'PATH': '/usr/bin:/bin'}
    if 'PYTHONPATH' in os.environ:  # a checkout run without installing the package
        env['PYTHONPATH'] = os.environ['PYTHONPATH']
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ['3', '10', '()']


# --------------------------------------------------------------------------------------------
# With the Keras model: LayerType, QKeras quantizers, reuse factors hls4ml changes


@pytest.fixture(scope='module')
def qmodel():
    import tensorflow as tf
    qkeras_module()
    from qkeras import QConv1D, QDense, quantized_bits

    keras = tf.keras
    inp = keras.Input((8, 3))
    x = QConv1D(4, 3, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 0, alpha=1),
                name='qc1')(inp)
    x = keras.layers.Flatten(name='flat')(x)
    x = QDense(5, kernel_quantizer=quantized_bits(4, 0, alpha=1), name='qd1')(x)
    x = keras.layers.Dense(3, name='d2')(x)
    return keras.Model(inp, x, name='qmodel')


def test_auto_precision_from_quantizers_matches_hls4ml(qmodel, tmp_path):
    import hls4ml

    cfg = hls4ml.utils.config_from_keras_model(qmodel, granularity='name', default_precision='fixed<14,6>')
    for entry in cfg['LayerName'].values():
        if isinstance(entry.get('Precision'), dict) and 'weight' in entry['Precision']:
            entry['Precision']['weight'] = 'auto'
    cfg['LayerName']['d2']['Precision']['weight'] = 'auto'
    ours = read_hls_config(cfg, describe_layers(qmodel))
    hls_model = hls4ml.converters.convert_from_keras_model(qmodel, hls_config=copy.deepcopy(cfg),
                                                           output_dir=str(tmp_path / 'prj'))
    for name in ('qc1', 'qd1', 'd2'):
        assert ours.layers[name].weight_bits == hls_model.graph[name].weights['weight'].type.precision.width, name
    assert [ours.layers[n].weight_bits for n in ('qc1', 'qd1', 'd2')] == [6, 4, 14]


def test_explicit_precision_overridden_by_quantizer(qmodel):
    cfg = {'Model': {'Precision': 'ap_fixed<16,6>', 'ReuseFactor': 1}}
    s = read_hls_config(cfg, describe_layers(qmodel))
    assert (s.layers['qc1'].weight_bits, s.layers['qd1'].weight_bits, s.layers['d2'].weight_bits) == (6, 4, 16)


def test_layer_type_with_model_and_qkeras_class_warning(qmodel, caplog):
    cfg = {'Model': {'ReuseFactor': 1}, 'LayerType': {'Dense': {'ReuseFactor': 5}, 'QDense': {'ReuseFactor': 7}}}
    with caplog.at_level(logging.WARNING, logger='hwprune'):
        s = read_hls_config(cfg, describe_layers(qmodel))
    assert s.layers['qd1'].reuse_factor == 5 and s.layers['d2'].reuse_factor == 5  # as hls4ml: QDense is a Dense
    assert s.layers['qc1'].reuse_factor == 1
    assert "['QDense'] is ignored by hls4ml" in caplog.text


def test_target_warns_about_changed_reuse_factor(qmodel, caplog):
    cfg = {'Model': {'ReuseFactor': 1, 'Strategy': 'Resource'}, 'LayerName': {'qd1': {'ReuseFactor': 7}}}
    with caplog.at_level(logging.WARNING, logger='hwprune'):
        target = target_from_hls_config(cfg, describe_layers(qmodel), as_converted=False)
    assert isinstance(target, FPGATarget)
    assert "'qd1'" in caplog.text and 'instead of the requested 7' in caplog.text


def test_target_estimates(qmodel):
    target = target_from_hls_config({'Model': {'ReuseFactor': 2, 'Precision': 'ap_fixed<16,6>'}},
                                    describe_layers(qmodel), strict=True)
    for unit in resolve_units(qmodel):
        usage = target.layer_model(unit.info, ('DSP',)).usage_dict(np.asarray(unit.layer.get_weights()[0]))
        assert usage['DSP'] >= 0


def test_pin_auto_precisions_copies_and_validates():
    import pytest as _pytest

    from hwprune.hls.config import pin_auto_precisions
    cfg = {'Model': {'Precision': 'ap_fixed<12,4>'},
           'LayerName': {'fc': {'Precision': {'result': 'auto', 'accum': 'auto', 'weight': 'auto'}}}}
    pinned = pin_auto_precisions(cfg)
    assert pinned['LayerName']['fc']['Precision'] == {'result': 'ap_fixed<12,4>', 'accum': 'ap_fixed<12,4>',
                                                      'weight': 'auto'}
    assert cfg['LayerName']['fc']['Precision']['result'] == 'auto'  # the user's dict is untouched
    with _pytest.raises(ValueError, match='`precision`'):
        pin_auto_precisions({'LayerName': {}})


def test_separable_units_get_their_kernels_settings_as_hls4ml_does(tmp_path):
    """hls4ml splits a (Q)SeparableConv into <name>_depthwise and <name>_pointwise, each with the
    layer's config and its own kernel type; hwprune's units must read the same settings."""
    import hls4ml
    import tensorflow as tf
    qkeras_module()
    from qkeras import QDepthwiseConv2D, QSeparableConv2D, quantized_bits

    keras = tf.keras
    inp = keras.Input((6, 6, 2))
    x = QDepthwiseConv2D(3, depthwise_quantizer=quantized_bits(7, 0, alpha=1), name='qdw')(inp)
    x = QSeparableConv2D(3, 3, depthwise_quantizer=quantized_bits(6, 0, alpha=1),
                         pointwise_quantizer=quantized_bits(10, 0, alpha=1), name='qsep')(x)
    x = keras.layers.SeparableConv2D(2, 1, name='sep')(x)
    model = keras.Model(inp, keras.layers.Flatten()(x))
    cfg = hls4ml.utils.config_from_keras_model(model, granularity='name', default_precision='fixed<14,6>')
    cfg['LayerName']['qsep']['ReuseFactor'] = 3
    cfg['LayerName']['sep']['Precision']['depthwise'] = 'fixed<12,4>'
    cfg['LayerName']['sep']['Precision']['pointwise'] = 'fixed<9,3>'
    ours = read_hls_config(cfg, describe_layers(model))
    assert set(ours.layers) == {'qdw', 'qsep_depthwise', 'qsep_pointwise', 'sep_depthwise', 'sep_pointwise'}
    hls_model = hls4ml.converters.convert_from_keras_model(model, hls_config=copy.deepcopy(cfg),
                                                           output_dir=str(tmp_path / 'prj'))
    for name, settings in ours.layers.items():
        node = hls_model.graph[name]
        assert settings.weight_bits == node.weights['weight'].type.precision.width, name
        assert settings.reuse_factor == node.get_attr('reuse_factor'), name
    assert [ours.layers[n].weight_bits for n in ('qdw', 'qsep_depthwise', 'qsep_pointwise', 'sep_depthwise',
                                                  'sep_pointwise')] == [7, 6, 10, 12, 9]


@pytest.mark.parametrize('variant', ['unit_entry', 'parent_entry', 'type_conv2d', 'type_pointwise', 'type_both',
                                     'type_depthwise', 'type_separable'])
def test_split_and_pointwise_layers_resolve_like_hls4ml(variant, tmp_path):
    """Which entry sets a split unit's (and a 1x1 convolution's) reuse factor and weight type: the
    parent's entry as hls4ml copies it, then the unit's own, PointwiseConv2D before Conv2D, Model."""
    import hls4ml

    import hls_fixtures as F

    model = F.separable_functional(qkeras=False)
    cfg = F.hls_config(model)
    types = cfg.setdefault('LayerType', {})
    if variant == 'unit_entry':
        cfg['LayerName']['sep_pointwise'] = {'ReuseFactor': 4}
    elif variant == 'parent_entry':
        cfg['LayerName']['sep']['ReuseFactor'] = 3
        cfg['LayerName']['sep_depthwise'] = {'ReuseFactor': 9}  # the parent's copy wins
    elif variant == 'type_conv2d':
        types['Conv2D'] = {'ReuseFactor': 4}
    elif variant == 'type_pointwise':
        types['PointwiseConv2D'] = {'ReuseFactor': 4}
    elif variant == 'type_both':
        types.update({'Conv2D': {'ReuseFactor': 4}, 'PointwiseConv2D': {'ReuseFactor': 3}})
    elif variant == 'type_depthwise':
        types['DepthwiseConv2D'] = {'ReuseFactor': 6}
    else:
        types['SeparableConv2D'] = {'ReuseFactor': 4, 'Precision': {'pointwise': 'fixed<10,3>'}}
    ours = read_hls_config(cfg, describe_layers(model))
    hls_model = hls4ml.converters.convert_from_keras_model(model, hls_config=copy.deepcopy(cfg), backend='Vitis',
                                                           output_dir=str(tmp_path / 'prj'))
    for name in ('c0', 'dw', 'sep_depthwise', 'sep_pointwise', 'fc'):
        node = hls_model.graph[name]
        expected = (node.get_attr('reuse_factor'), node.weights['weight'].type.precision.width)
        assert (ours.layers[name].reuse_factor, ours.layers[name].weight_bits) == expected, (variant, name)

"""Layer kinds as records (``hwprune.kinds``) and the tables derived from them."""

import pytest

from hwprune import kinds, layouts
from hwprune.kinds import DEPTHWISE_KINDS, KIND_RECORDS, KINDS, NODE_KINDS, get_kind, kind_of_hls_class


def test_tables_are_derived_from_the_records():
    assert KINDS == ('dense', 'conv1d', 'conv2d', 'depthwise1d', 'depthwise2d')
    assert DEPTHWISE_KINDS == ('depthwise1d', 'depthwise2d')
    assert layouts.RESOURCE_TRANSPOSE == {k.name: k.resource_transpose for k in KIND_RECORDS}
    assert NODE_KINDS == {'Dense': 'dense', 'Conv1D': 'conv1d', 'PointwiseConv1D': 'conv1d', 'Conv2D': 'conv2d',
                          'PointwiseConv2D': 'conv2d', 'Conv2DBatchnorm': 'conv2d',
                          'DepthwiseConv1D': 'depthwise1d', 'DepthwiseConv2D': 'depthwise2d'}
    from hwprune.targets.hls_config import HLS_CLASS
    assert HLS_CLASS == {'dense': 'Dense', 'conv1d': 'Conv1D', 'conv2d': 'Conv2D', 'depthwise1d': 'DepthwiseConv1D',
                         'depthwise2d': 'DepthwiseConv2D'}


@pytest.mark.parametrize('record', KIND_RECORDS, ids=lambda r: r.name)
def test_records_are_consistent(record):
    assert sorted(record.resource_transpose) == list(range(record.rank))
    assert record.hls_class in record.hls_node_classes
    assert kind_of_hls_class(record.hls_class) == record.name
    assert get_kind(record.name.upper()) is record
    shape = (3,) * record.spatial + (4, 1 if record.depthwise else 5)
    assert layouts.check_kernel_shape(record.name, shape) == shape
    n_in, n_out = layouts.mult_shape(record.name, shape)
    assert n_in == 3 ** record.spatial * 4
    assert n_out == (4 if record.depthwise else 5)


def test_unknown_kinds_are_named():
    with pytest.raises(ValueError, match="expected one of 'dense'"):
        get_kind('conv3d')
    assert kind_of_hls_class('Activation') is None
    assert kinds.check_kind('Dense') == 'dense'

import json

import pytest

from hwprune.report import Report


def test_totals_table_dict_and_compare():
    before = Report({'fc1': {'DSP': 512, 'BRAM': 228}, 'fc2': {'DSP': 1024, 'BRAM': 456}}, target='fpga')
    after = Report({'fc1': {'DSP': 128, 'BRAM': 57}, 'fc2': {'DSP': 256, 'BRAM': 0}},
                   details={'fc1': {'strategy': 'resource_unrolled'}}, target='fpga')
    assert before.total == {'DSP': 1536.0, 'BRAM': 684.0}
    assert after['DSP'] == 384.0
    text = str(after)
    assert 'fc1' in text and 'resource_unrolled' in text and text.splitlines()[-1].startswith('total')
    data = json.loads(after.to_json())
    assert Report.from_dict(data).total == after.total
    cmp = after.compare(before)
    assert '1536 -> 384 (4.00x)' in cmp and '456 -> 0 (all)' in cmp
    with pytest.raises(KeyError, match='resource'):
        after['LUT']
    with pytest.raises(TypeError, match='before'):
        after.compare({'fc1': {}})


def test_plot(tmp_path):
    import matplotlib
    matplotlib.use('Agg')
    r = Report({'a': {'DSP': 3}, 'b': {'DSP': 1}})
    ax = r.plot()
    ax.figure.savefig(tmp_path / 'r.png')
    assert (tmp_path / 'r.png').stat().st_size > 0

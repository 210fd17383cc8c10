import json
import math

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


BEFORE = Report({'fc1': {'DSP': 512, 'BRAM': 228}, 'fc2': {'DSP': 1024, 'BRAM': 456}}, target='fpga')
AFTER = Report({'fc1': {'DSP': 128, 'BRAM': 57}, 'fc2': {'DSP': 256, 'BRAM': 0}},
               details={'fc1': {'strategy': 'latency', 'reuse_factor': 2}}, target='fpga')


def test_repr_and_pretty_text():
    assert repr(AFTER) == "Report(target='fpga', 2 layers, DSP=384, BRAM=57)"
    assert repr(Report({})) == 'Report(0 layers)'

    class Printer:
        def __init__(self):
            self.out = ''

        def text(self, s):
            self.out += s

    p = Printer()
    AFTER._repr_pretty_(p, False)
    assert p.out.splitlines()[0] == 'hwprune report on fpga: 2 layers'
    assert p.out.endswith(str(AFTER))
    c = AFTER.compare(BEFORE)
    p = Printer()
    c._repr_pretty_(p, False)
    assert p.out.splitlines()[0] == 'hwprune: before -> after on fpga (DSP 4.00x, BRAM 12.00x)'
    assert repr(c) == 'Comparison(DSP: 1536 -> 384, BRAM: 684 -> 57)'


def test_html_holds_every_number_and_the_totals():
    page = AFTER._repr_html_()
    assert page.startswith('<table class="hwprune-report"')
    rows = page.split('<tr')
    assert len(rows) == 1 + 1 + 2 + 1  # before the first row, header, 2 layers, total
    assert '>fc1<' in rows[2] and '>128<' in rows[2] and '>57<' in rows[2] and '>latency<' in rows[2]
    assert '>total<' in rows[-1] and '>384<' in rows[-1] and '>57<' in rows[-1] and 'font-weight:bold' in rows[-1]
    assert '<th style="text-align:right;padding:2px 8px">reuse_factor</th>' in page
    weird = Report({'<b>': {'DSP': 1.0}})._repr_html_()
    assert '&lt;b&gt;' in weird and '<b>' not in weird


def test_comparison_is_the_old_table_and_more():
    c = AFTER.compare(BEFORE)
    assert isinstance(c, str) and str(c) == c and c.splitlines()[-1].startswith('total')
    assert '1536 -> 384 (4.00x)' in c and ('\n' + c).startswith('\nlayer')
    assert c.factors == {'DSP': 4.0, 'BRAM': 12.0}
    d = c.to_dict()
    assert d['layers']['fc2']['BRAM'] == {'before': 456.0, 'after': 0.0, 'factor': float('inf')}
    assert d['total']['DSP'] == {'before': 1536.0, 'after': 384.0, 'factor': 4.0}
    assert json.loads(c.to_json())['layers']['fc2']['BRAM']['factor'] is None
    page = c._repr_html_()
    assert page.startswith('<table class="hwprune-comparison"')
    total = page.split('<tr')[-1]
    assert '1536 &rarr; 384' in total and '(4.00x)' in total and '684 &rarr; 57' in total
    assert '456 &rarr; 0' in page and '(all)' in page
    import copy
    import pickle
    assert pickle.loads(pickle.dumps(c)).factors == c.factors and copy.deepcopy(c) == c
    same = AFTER.compare(AFTER)
    assert '(' not in same.splitlines()[1] and math.isnan(Report({'a': {'X': 0}}).compare(Report({'a': {'X': 0}})).factors['X'])


def test_dataframes():
    pd = pytest.importorskip('pandas')
    df = AFTER.to_dataframe()
    assert list(df.columns) == ['DSP', 'BRAM', 'strategy', 'reuse_factor'] and df.index.name == 'layer'
    assert df.loc['fc2', 'DSP'] == 256.0 and df.loc['fc1', 'strategy'] == 'latency'
    assert pd.isna(df.loc['fc2', 'strategy'])
    with_total = AFTER.to_dataframe(details=False, total=True)
    assert list(with_total.columns) == ['DSP', 'BRAM'] and with_total.loc['total', 'DSP'] == 384.0
    assert with_total.loc[['fc1', 'fc2'], 'BRAM'].sum() == with_total.loc['total', 'BRAM']
    cdf = AFTER.compare(BEFORE).to_dataframe()
    assert list(cdf.index) == ['fc1', 'fc2', 'total']
    assert cdf.loc['total', ('DSP', 'before')] == 1536.0 and cdf.loc['total', ('DSP', 'factor')] == 4.0
    assert cdf.loc['fc2', ('BRAM', 'factor')] == float('inf')
    assert list(cdf.columns.get_level_values(0).unique()) == ['DSP', 'BRAM']


def test_to_dataframe_without_pandas_names_the_extra(monkeypatch):
    import builtins
    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == 'pandas':
            raise ImportError('no pandas')
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, '__import__', fake)
    with pytest.raises(ImportError, match=r"pip install 'hwprune\[notebook\]'"):
        AFTER.to_dataframe()
    with pytest.raises(ImportError, match='notebook'):
        AFTER.compare(BEFORE).to_dataframe()

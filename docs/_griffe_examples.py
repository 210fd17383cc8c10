"""griffe extension for the API reference: read hwprune's docstrings as the site shows them.

* The docstrings head their doctests ``Example:`` (singular), which Google-style parsing would
  render as prose: read it as an ``Examples`` section, so the doctests show as code.
* Sphinx roles (``:func:`hwprune.convert```) have no meaning in Markdown: keep the name as code.
"""

import re

import griffe

_HEADING = re.compile(r'^(\s*)Example:\s*$', re.MULTILINE)
_ROLE = re.compile(r':(?:func|meth|class|mod|data|attr|exc|obj):`~?([^`]+)`')


class ExampleSections(griffe.Extension):
    def on_instance(self, *, obj, **kwargs):
        doc = obj.docstring
        if doc is None:
            return
        value = _HEADING.sub(r'\1Examples:', doc.value) if 'Example:' in doc.value else doc.value
        doc.value = _ROLE.sub(r'`\1`', value)

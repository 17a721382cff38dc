# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sphinx configuration of the collection's documentation site (tools/docs.sh site, make docs).

The build is offline: there is no intersphinx. The few ansible-core pages that antsibull-docs'
pages refer to (the configuration settings and their environment variables, the common return
values, the callback plugins, other collections' plugins) are linked to docs.ansible.com from the
table below; any other reference that does not resolve is a warning, and so fails the build.
"""

from __future__ import annotations

import re

from docutils import nodes

project = 'hyperpod.eks_lifecycle'
project_copyright = 'hyperpod.eks_lifecycle contributors'

title = 'hyperpod.eks_lifecycle'
html_short_title = 'hyperpod.eks_lifecycle'
html_title = 'hyperpod.eks_lifecycle documentation'

extensions = ['sphinx_antsibull_ext']

pygments_style = 'ansible'
highlight_language = 'YAML+Jinja'

html_theme = 'sphinx_ansible_theme'
html_theme_options = {
    # The links of the top bar, and where its title goes (every page is in one directory).
    'topbar_links': {
        'Repository': 'https://github.com/hyperpod/eks_lifecycle',
        'Issues': 'https://github.com/hyperpod/eks_lifecycle/issues',
        'Changelog': 'https://github.com/hyperpod/eks_lifecycle/blob/main/CHANGELOG.rst',
    },
    'documentation_home_url': 'index.html',
    'show_extranav': False,
}
html_show_sphinx = False
display_version = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False

default_role = 'any'
nitpicky = True

ANSIBLE_DOCS = 'https://docs.ansible.com/projects/ansible/devel/'
ANSIBLE_LABELS = {
    'ansible_configuration_settings': ('reference_appendices/config.html', 'Ansible Configuration Settings'),
    'callback_plugins': ('plugins/callback.html', 'Callback plugins'),
    'common_return_values': ('reference_appendices/common_return_values.html', 'Return Values'),
}
PLUGIN_LABEL = re.compile(r'^ansible_collections\.([a-z0-9_]+)\.([a-z0-9_]+)\.([a-z0-9_]+)_([a-z]+)$')


def ansible_core_reference(app, env, node, contnode):  # pylint: disable=unused-argument
    """Resolve a reference to ansible-core's documentation, or leave it unresolved (None)."""
    if node.get('refdomain') != 'std':
        return None
    target = node.get('reftarget', '')
    title = None
    if node.get('reftype') == 'envvar' and target.startswith('ANSIBLE_'):
        uri = ANSIBLE_DOCS + 'reference_appendices/config.html#envvar-' + target
    elif node.get('reftype') == 'ref' and target in ANSIBLE_LABELS:
        path, title = ANSIBLE_LABELS[target]
        uri = ANSIBLE_DOCS + path
    elif node.get('reftype') == 'ref' and PLUGIN_LABEL.match(target) and not target.startswith(
            'ansible_collections.hyperpod.eks_lifecycle.'):
        namespace, name, plugin, plugin_type = PLUGIN_LABEL.match(target).groups()
        uri = '%scollections/%s/%s/%s_%s.html' % (ANSIBLE_DOCS, namespace, name, plugin, plugin_type)
    else:
        return None
    reference = nodes.reference('', '', internal=False, refuri=uri)
    if title and not node.get('refexplicit'):
        reference += nodes.Text(title)
    else:
        reference += contnode
    return reference


def setup(app):
    """Sphinx extension entry point of this configuration."""
    app.connect('missing-reference', ansible_core_reference)

# Sphinx configuration of the trove-image-builder documentation.
# The CLI and configuration references are generated from the installed
# package's entry points (cliff commands, oslo.config options), so they
# cannot drift from the code.

extensions = [
    'cliff.sphinxext',
    'oslo_config.sphinxext',
    'openstackdocstheme',
]

project = 'trove-image-builder'
copyright = 'trove-image-builder developers'
openstackdocs_repo_name = 'openstack/trove-image-builder'
openstackdocs_use_storyboard = False
openstackdocs_bug_project = 'trove-image-builder'
openstackdocs_bug_tag = ''
html_theme = 'openstackdocs'

master_doc = 'index'
exclude_patterns = []
pygments_style = 'native'
# The commands' --help text is the reference; cliff's formatter options
# are the same on every command and documented once by cliff.
autoprogram_cliff_ignored = ['--help', '--format', '--column', '--noindent',
                             '--prefix', '--max-width', '--fit-width',
                             '--print-empty', '--sort-column',
                             '--sort-ascending', '--sort-descending',
                             '--quote']

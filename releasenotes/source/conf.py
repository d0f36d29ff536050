# Sphinx configuration of the release notes (reno).

extensions = [
    'reno.sphinxext',
    'openstackdocstheme',
]

project = 'trove-image-builder Release Notes'
copyright = 'trove-image-builder developers'
openstackdocs_repo_name = 'openstack/trove-image-builder'
openstackdocs_use_storyboard = False
openstackdocs_bug_project = 'trove-image-builder'
openstackdocs_bug_tag = ''
openstackdocs_auto_name = False
html_theme = 'openstackdocs'
master_doc = 'index'
exclude_patterns = []
pygments_style = 'native'

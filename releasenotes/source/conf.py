# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

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

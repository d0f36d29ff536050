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

"""Dev mode's fast path: a changed agent replaced in the existing base.

A guest-agent developer changes Trove's Python code far more often than
its packaging or dependencies. When only the source tree's trove/
package differs from what the base was built with (setup.cfg,
requirements, elements and every other input the same, which the base's
frame hash records), the base is refreshed by putting the new trove/
into the agent's venv in place of the installed one, not by running DIB
again.
"""

import glob
import os
import shutil
import subprocess

from trove_image_builder.build import inputs
from trove_image_builder import errors
from trove_image_builder import imagefile

# Where the trove-guest-agent element installs the agent.
VENV = os.path.join('opt', 'guest-agent-venv')
PACKAGE = 'trove'
# What the source tree's package hash covers; the rest of the tree is
# in the frame.
PACKAGE_TREE = 'guest-agent-package'


def applies(old, facts):
    """True when the base described by old can be refreshed to facts."""
    return bool(old and facts.get('frame_hash') and
                old.get('frame_hash') == facts['frame_hash'] and
                old.get('inputs_hash') != facts.get('inputs_hash'))


def site_packages(root):
    found = glob.glob(os.path.join(glob.escape(root), VENV, 'lib',
                                   'python3*', 'site-packages'))
    if len(found) != 1:
        raise errors.BuildFailed('the base has %d agent venvs under /%s; '
                                 'cannot refresh the agent in place'
                                 % (len(found), VENV))
    return found[0]


def replace_agent(root, source):
    """Put source/trove into the venv under root; compile it in the guest.

    Returns the number of files copied.
    """
    dest_dir = site_packages(root)
    dest = os.path.join(dest_dir, PACKAGE)
    new = os.path.join(dest_dir, '.%s.new' % PACKAGE)
    old = os.path.join(dest_dir, '.%s.old' % PACKAGE)
    for path in (new, old):
        shutil.rmtree(path, ignore_errors=True)
    copied = []

    def ignore(directory, names):
        skipped = {n for n in names if n in inputs.SKIP_DIRS or
                   n.endswith(inputs.SKIP_SUFFIXES)}
        copied.extend(n for n in names if n not in skipped)
        return skipped

    shutil.copytree(os.path.join(source, PACKAGE), new, symlinks=True,
                    ignore=ignore)
    # The image's files belong to root whoever owns the checkout.
    for dirpath, dirnames, filenames in os.walk(new):
        for name in [dirpath] + [os.path.join(dirpath, n)
                                 for n in dirnames + filenames]:
            os.lchown(name, 0, 0)
    if os.path.isdir(dest):
        os.rename(dest, old)
    os.rename(new, dest)
    shutil.rmtree(old, ignore_errors=True)
    guest_path = '/' + os.path.relpath(dest, root)
    res = subprocess.run(
        ['chroot', root, '/' + VENV + '/bin/python', '-m', 'compileall',
         '-q', guest_path], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise errors.BuildFailed('the new agent does not compile in the '
                                 'guest: %s' % imagefile.last_line(
                                     res.stdout + res.stderr))
    return len(copied)

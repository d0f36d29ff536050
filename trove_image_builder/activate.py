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

"""activate: make a registered datastore version its datastore's default.

Refuses, changing nothing, when the version is unknown or inactive, or
its image is missing from Glance or not active: the previous default
stays.
"""

import dataclasses

from trove_image_builder.cloud import glance as glance_mod
from trove_image_builder import errors
from trove_image_builder import manifest


@dataclasses.dataclass(frozen=True)
class Result:
    datastore: str
    version: object  # register.Registered, as Trove now holds it
    image: dict
    previous_default: str  # version name, or None
    changed: bool


def check_image(glance, version):
    """The active Glance image the version boots, or Refused."""
    what = 'datastore version %s %s' % (version.datastore, version.name)
    if version.image_id:
        image = glance.get(version.image_id)
        if image is None:
            raise errors.Refused('the image %s of %s is missing from Glance'
                                 % (version.image_id, what))
    elif version.image_tags:
        image = glance.newest_with_tags(version.image_tags)
        if image is None:
            raise errors.Refused('no active image in Glance carries the '
                                 'tags %s of %s' % (
                                     ','.join(version.image_tags), what))
    else:
        raise errors.Refused('%s names no image' % what)
    if image.get('status') != 'active':
        raise errors.Refused('the image %s of %s is %s, not active'
                             % (image.get('id'), what, image.get('status')))
    return image


def failed_checks(image):
    """The build host's checks recorded on the Glance image as failed."""
    return sorted(key for key in manifest.CHECK_RECORDS
                  if image.get(glance_mod.CHECK_PROPERTY % key) == 'fail')


def activate(registrar, glance, datastore, name, version_number=None,
             force=False):
    version = registrar.version(datastore, name, version_number)
    if not version.active:
        raise errors.Refused('datastore version %s %s is inactive; load it '
                             'again to activate it' % (datastore, name))
    image = check_image(glance, version)
    failed = failed_checks(image)
    if failed and not force:
        raise errors.Refused(
            'the image %s of %s %s failed its %s check on the build host; '
            'fix and verify it again, or pass --force' % (
                image.get('id'), datastore, name, ' and '.join(failed)))
    previous = [v for v in registrar.versions(datastore) or () if v.default]
    previous_name = previous[0].name if previous else None
    if version.default:
        return Result(datastore, version, image, previous_name, False)
    registrar.set_default(version)
    after = registrar.version(datastore, name, version.version_number)
    if not after.default:
        raise errors.CloudError('Trove accepted the change but %s %s is '
                                'still not the default' % (datastore, name))
    return Result(datastore, after, image, previous_name, True)

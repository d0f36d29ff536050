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

"""`container-image build`: a datastore's container image, offline."""

from cliff import show

from trove_image_builder.build import containerimage
from trove_image_builder import catalog
from trove_image_builder.cli import common
from trove_image_builder import datafiles

SHOWN = ('archive', 'tag', 'image_id', 'packages', 'size', 'seconds',
         'cached', 'record')


class ContainerImageBuild(show.ShowOne):
    """Build a datastore version's container image from Debian packages.

    No registry is used: the image is made with debootstrap from the
    packages its datastore.yaml names, with an entrypoint written for
    Trove's guest agent, and saved as a docker-archive named as
    [container_images] archive_dir expects (mariadb:10.11.11 ->
    mariadb_10.11.11.tar). Embed it with build --embed-container-image.
    MySQL is not packaged by Debian: supply its archive yourself.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('spec', metavar='DATASTORE[:VERSION]',
                            help='For example mariadb:10.11 or '
                                 'postgresql:15 (default: the datastore\'s '
                                 'default version).')
        parser.add_argument('--output-dir', metavar='DIR',
                            help='Default: [container_images] archive_dir, '
                                 'else [build] output_dir.')
        parser.add_argument('--tag', metavar='NAME:TAG',
                            help='Default: the version\'s container_image '
                                 '(its tag is what the agent runs).')
        parser.add_argument('--force', action='store_true',
                            help='Rebuild even when the archive is up to '
                                 'date.')
        return parser

    def take_action(self, parsed_args):
        a = parsed_args
        conf = self.app.conf
        datastore, version = catalog.split_spec(a.spec)
        cat = catalog.Catalog.load(datafiles.elements_dir(
            conf.build.elements_dir))
        rec = containerimage.recipe(cat, datastore, version,
                                    tag=a.tag)
        output_dir = (a.output_dir or conf.container_images.archive_dir or
                      conf.build.output_dir)
        result = containerimage.build(
            rec, output_dir, conf.build.cache_dir, conf.build.work_dir,
            mirror=conf.mirrors.debian, force=a.force,
            progress=common.Output(self.app).say)
        data = dict(archive=result.archive, tag=result.tag,
                    image_id=result.image_id,
                    packages=', '.join('%s %s' % kv for kv in
                                       sorted(result.packages.items())),
                    size=result.size, seconds=result.seconds,
                    cached=result.cached, record=result.record)
        return SHOWN, tuple(data[k] for k in SHOWN)

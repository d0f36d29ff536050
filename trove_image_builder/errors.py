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

"""Typed errors. The CLI turns each into one line on stderr and its code."""


class Error(Exception):
    """Base of every error the tool reports without a traceback."""

    exit_code = 1


class InputError(Error):
    """Something the user asked for does not exist or does not fit."""

    exit_code = 2


class HostError(Error):
    """The build host lacks a tool, a privilege or a kernel feature."""

    exit_code = 3


class BuildFailed(Error):
    """disk-image-create (or a step around it) failed."""

    exit_code = 4

    def __init__(self, message, log_path=None, tail=()):
        self.log_path = log_path
        self.tail = tuple(tail)
        super().__init__(message)


class Busy(Error):
    """Another process holds the lock for the same target."""

    exit_code = 5


class Interrupted(Error):
    """SIGINT or SIGTERM arrived; work was stopped and cleaned up."""

    exit_code = 130


class CloudError(Error):
    """A cloud service was unreachable or refused the request."""

    exit_code = 6


class UploadFailed(CloudError):
    """The image did not reach Glance intact.

    Nothing was left behind, or the message names what was.
    """

    exit_code = 7


class RegisterFailed(CloudError):
    """The image is in Glance, but Trove did not take the registration."""

    exit_code = 8


class Refused(Error):
    """The cloud's state does not allow the step; nothing was changed.

    For example an unknown version, or its image missing or not active.
    """

    exit_code = 9


class VerifyFailed(Error):
    """The image booted (or not) but a readiness check failed."""

    exit_code = 10

    def __init__(self, message, serial_log=None, tail=()):
        self.serial_log = serial_log
        self.tail = tuple(tail)
        super().__init__(message)

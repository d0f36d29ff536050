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

"""A real HTTPS server on 127.0.0.1 whose certificate a test CA signed.

The CA and the server's key and certificate are made with the
cryptography package in a directory the test owns; the server runs in a
thread and answers GET with the bytes it was given for each path.
"""

import datetime
import http.server
import ipaddress
import os
import ssl
import threading

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography import x509
from cryptography.x509.oid import NameOID
import fixtures


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'wb') as f:
        f.write(data)
    return path


def make_ca(directory, name='tib test CA'):
    """(CA certificate path, (key, certificate)) of a new self-signed CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(_name(name)).issuer_name(_name(name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0),
                           critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    path = _pem(os.path.join(directory, '%s.pem' % name.replace(' ', '-')),
                cert.public_bytes(serialization.Encoding.PEM))
    return path, (key, cert)


def make_server_cert(directory, ca):
    """(certificate path, key path) for 127.0.0.1, signed by ca."""
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(_name('127.0.0.1')).issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address('127.0.0.1'))]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage(
                [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path = _pem(os.path.join(directory, 'server.pem'),
                     cert.public_bytes(serialization.Encoding.PEM))
    key_path = _pem(os.path.join(directory, 'server.key'),
                    key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return cert_path, key_path


class HTTPSServer(fixtures.Fixture):
    """Serves {path: bytes} over TLS on 127.0.0.1 until cleanup.

    ca_file is the PEM of the CA that signed the server's certificate;
    requests counts the GETs answered.
    """

    def __init__(self, directory, files):
        super().__init__()
        self.directory = directory
        self.files = dict(files)
        self.requests = 0

    def _setUp(self):
        self.ca_file, ca = make_ca(self.directory)
        cert, key = make_server_cert(self.directory, ca)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = server.files.get(self.path)
                server.requests += 1
                self.send_response(200 if body is not None else 404)
                self.send_header('Content-Length', str(len(body or b'')))
                self.end_headers()
                self.wfile.write(body or b'')

            def log_message(self, *args):
                pass  # keep the test's output clean

        httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        # A client that refuses the certificate drops the connection
        # mid-handshake: the server thread must not report it.
        httpd.handle_error = lambda *args: None
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        self.port = httpd.server_address[1]
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 10)
        self.addCleanup(httpd.server_close)
        self.addCleanup(httpd.shutdown)

    def url(self, path):
        return 'https://127.0.0.1:%d%s' % (self.port, path)

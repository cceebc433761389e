"""A throw-away CA, a server certificate for 127.0.0.1, and a redis-server that speaks only TLS."""

from __future__ import annotations

import datetime
import ipaddress
import subprocess
import time
from pathlib import Path

import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.redis_server import RedisServer, redis_server_binary


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """Write ``ca.pem``, ``server.pem`` and ``server.key`` (valid for 127.0.0.1 for one day); return their paths."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("mempool-ws test CA"))
        .issuer_name(_name("mempool-ws test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_pem_key(key))
    return paths


class TlsRedisServer(RedisServer):
    """redis-server with a password, listening only on a TLS port (no plain-text port at all)."""

    def __init__(self, directory: Path, password: str) -> None:
        self.ca, cert, key = make_certificates(directory)
        self.secret = password
        tls = ["--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(self.ca)]
        super().__init__(extra_args=["--requirepass", password, *tls, "--tls-auth-clients", "no"])
        self.tls_port = self.port
        self._extra_args += ["--tls-port", str(self.tls_port)]

    def start(self, timeout_s: float = 10.0) -> None:
        """Start with the plain-text port closed, then wait for PONG over TLS."""
        command = [redis_server_binary(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", self._dir, "--logfile", str(Path(self._dir) / "redis.log"), "--port", "0"]
        self._process = subprocess.Popen([*command, *self._extra_args], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while not self.answers():
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise RuntimeError(f"TLS redis-server on {self.tls_port} did not answer; see {self._dir}")
            time.sleep(0.05)

    def url_with(self, password: str) -> str:
        """The ``rediss://`` URL with ``password`` and the CA as redis-py query parameters."""
        return f"rediss://:{password}@127.0.0.1:{self.tls_port}/0?ssl_ca_certs={self.ca}"

    @property
    def url(self) -> str:
        """The working ``rediss://`` URL."""
        return self.url_with(self.secret)

    def answers(self) -> bool:
        """Whether a TLS client with the password gets PONG."""
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

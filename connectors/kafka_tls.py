"""A throw-away certificate authority and broker certificate for the local secure broker, made with the
``keytool`` of the Java 17 the broker runs on (no network, no extra Python package).

    pki = throwaway_pki(Path(".var/kafka/tls"), hosts=("localhost", "127.0.0.1"))
    pki.ca_pem          # what clients trust (KAFKA_SSL_CAFILE)
    pki.keystore        # PKCS12: the broker's key and certificate chain (ssl.keystore.location)
    pki.truststore      # PKCS12: the CA (ssl.truststore.location; the broker as a client of itself)

Made once per folder and kept (files owner-only). Not for production: there, the site's CA signs the brokers'
certificates (README, "Securing Kafka in production").
"""
from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence


class TlsError(RuntimeError):
    """keytool failed or is missing."""


@dataclass(frozen=True)
class Pki:
    folder: Path
    password: str = field(repr=False)

    @property
    def ca_pem(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def keystore(self) -> Path:
        return self.folder / "broker.p12"

    @property
    def truststore(self) -> Path:
        return self.folder / "truststore.p12"

    def complete(self) -> bool:
        return all(p.is_file() for p in (self.ca_pem, self.keystore, self.truststore))


def _keytool(keytool: str, *args: str) -> None:
    res = subprocess.run([keytool, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=120)
    if res.returncode != 0:
        shown = [("***" if i and args[i - 1] in ("-storepass", "-keypass") else a) for i, a in enumerate(args)]
        raise TlsError(f"keytool {' '.join(shown[:2])} failed (exit {res.returncode}): "
                       f"{res.stdout.decode(errors='replace')[-1500:]}")


def _san(hosts: Sequence[str]) -> str:
    parts = []
    for h in hosts:
        try:
            ipaddress.ip_address(h)
            parts.append(f"ip:{h}")
        except ValueError:
            parts.append(f"dns:{h}")
    return "SAN=" + ",".join(parts)


def throwaway_pki(folder: Path, hosts: Sequence[str] = ("localhost", "127.0.0.1"), *, days: int = 30,
                  java_home: str | None = None) -> Pki:
    """A CA and a broker certificate for ``hosts`` signed by it, in ``folder`` (kept if already there)."""
    folder = Path(folder)
    pw_file = folder / "store.password"
    if pw_file.is_file():
        pki = Pki(folder, pw_file.read_text().strip())
        if pki.complete():
            return pki
    keytool = shutil.which("keytool", path=os.path.join(java_home, "bin") if java_home else None) or \
        shutil.which("keytool")
    if not keytool:
        raise TlsError("keytool (from the Java 17 the broker runs on) is needed to make the broker's certificate")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, mode=0o700)
    password = secrets.token_urlsafe(18)
    pw_file.write_text(password + "\n")
    pw_file.chmod(0o600)
    pki = Pki(folder, password)
    ca_store, csr, signed = folder / "ca.p12", folder / "broker.csr", folder / "broker.pem"
    store = ("-storetype", "PKCS12", "-storepass", password)
    _keytool(keytool, "-genkeypair", "-alias", "ca", "-keyalg", "RSA", "-keysize", "2048", "-validity", str(days),
             "-dname", "CN=AccidentLink throw-away CA", "-ext", "bc:c", "-keystore", str(ca_store), *store)
    _keytool(keytool, "-exportcert", "-rfc", "-alias", "ca", "-keystore", str(ca_store), *store,
             "-file", str(pki.ca_pem))
    _keytool(keytool, "-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048",
             "-validity", str(days), "-dname", f"CN={hosts[0]}", "-keystore", str(pki.keystore), *store)
    _keytool(keytool, "-certreq", "-alias", "broker", "-keystore", str(pki.keystore), *store, "-file", str(csr))
    _keytool(keytool, "-gencert", "-alias", "ca", "-keystore", str(ca_store), *store, "-infile", str(csr),
             "-outfile", str(signed), "-rfc", "-validity", str(days), "-ext", _san(hosts),
             "-ext", "KU=digitalSignature,keyEncipherment", "-ext", "EKU=serverAuth,clientAuth")
    _keytool(keytool, "-importcert", "-noprompt", "-alias", "ca", "-file", str(pki.ca_pem),
             "-keystore", str(pki.keystore), *store)
    _keytool(keytool, "-importcert", "-noprompt", "-alias", "broker", "-file", str(signed),
             "-keystore", str(pki.keystore), *store)
    _keytool(keytool, "-importcert", "-noprompt", "-alias", "ca", "-file", str(pki.ca_pem),
             "-keystore", str(pki.truststore), *store)
    for p in folder.iterdir():
        p.chmod(0o600)
    ca_store.unlink()  # the CA's key is not needed again: a new folder makes a new CA
    return pki

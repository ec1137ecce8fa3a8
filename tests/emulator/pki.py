"""Certificates and keys the emulator generates at start: a CA, the HTTPS server
certificate, the token-signing key and the registered app's client certificate."""
from __future__ import annotations

import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def new_key(bits=2048):
    """A fresh RSA private key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Exchange Online Emulator"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity(builder, days):
    now = datetime.datetime.now(datetime.timezone.utc)
    return builder.not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=days))


def make_ca():
    """(key, certificate) of a self-signed CA."""
    key = new_key()
    name = _name("Exchange Online Emulator CA")
    builder = x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    builder = _validity(builder.serial_number(x509.random_serial_number()), 30)
    builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    builder = builder.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                                  data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                                  crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    return key, builder.sign(key, hashes.SHA256())


def make_server_cert(ca_key, ca_cert):
    """(key, certificate) for 127.0.0.1 / localhost, signed by the CA."""
    key = new_key()
    builder = x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca_cert.subject)
    builder = _validity(builder.public_key(key.public_key()).serial_number(x509.random_serial_number()), 30)
    builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                                 x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                    critical=False)
    builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    builder = builder.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                                  data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                                  crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
    builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def make_self_signed(common_name, days=365):
    """(key, certificate), self-signed: app client certificates and the token-signing key."""
    key = new_key()
    name = _name(common_name)
    builder = x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    builder = _validity(builder.serial_number(x509.random_serial_number()), days)
    return key, builder.sign(key, hashes.SHA256())


def key_pem(key):
    """Unencrypted PKCS#8 PEM of a private key."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def cert_pem(cert):
    """PEM of a certificate."""
    return cert.public_bytes(serialization.Encoding.PEM)


def cert_der(cert):
    """DER of a certificate."""
    return cert.public_bytes(serialization.Encoding.DER)


def pfx_bytes(key, cert, password):
    """PKCS#12 with the key and certificate, protected by password."""
    return pkcs12.serialize_key_and_certificates(b"emulator-app", key, cert, None,
                                                 serialization.BestAvailableEncryption(password.encode()))


def sha1_thumbprint(cert):
    """Upper-case hex SHA-1 thumbprint, as the Azure portal shows it."""
    return cert.fingerprint(hashes.SHA1()).hex().upper()  # nosec - a certificate thumbprint, not a security hash


def sha256_thumbprint(cert):
    """Upper-case hex SHA-256 thumbprint."""
    return cert.fingerprint(hashes.SHA256()).hex().upper()

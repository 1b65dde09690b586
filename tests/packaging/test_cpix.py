from __future__ import annotations

import base64
import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from reelflow.domain.content_keys import ContentKey, generate_content_keys
from reelflow.domain.track_classes import TrackClass
from reelflow.packaging import drm
from reelflow.packaging.cpix import CPIX_NS, build_cpix
from reelflow.packaging.errors import CpixError
from tests.fixtures.cpix_reader import read_cpix

C = f"{{{CPIX_NS}}}"


def _cert(private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "drm-vendor")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(private_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def _pem(private_key: rsa.RSAPrivateKey) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def recipient() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def keys() -> dict[TrackClass, ContentKey]:
    return generate_content_keys(list(TrackClass))


@pytest.fixture(scope="module")
def document(recipient: rsa.RSAPrivateKey, keys: dict[TrackClass, ContentKey]) -> bytes:
    return build_cpix("title-42", keys, _cert(recipient))


def test_round_trip_with_recipient_key(
    document: bytes, recipient: rsa.RSAPrivateKey, keys: dict[TrackClass, ContentKey]
) -> None:
    got = read_cpix(document, _pem(recipient))
    assert got == {k.kid.hex(): k.key for k in keys.values()}
    for k in keys.values():  # never in the clear
        assert k.key.hex().encode() not in document.lower()
        assert base64.b64encode(k.key) not in document


def test_structure(document: bytes, keys: dict[TrackClass, ContentKey]) -> None:
    root = ET.fromstring(document)
    assert (
        root.tag == f"{C}CPIX"
        and root.get("version") == "2.3"
        and root.get("contentId") == "title-42"
    )
    kids = {el.get("kid") for el in root.iter(f"{C}ContentKey")}
    assert kids == {k.kid_uuid for k in keys.values()}
    systems = {(el.get("kid"), el.get("systemId")) for el in root.iter(f"{C}DRMSystem")}
    for k in keys.values():
        for system in drm.ALL_SYSTEMS:
            assert (k.kid_uuid, system.system_id) in systems
    sd_kid = keys[TrackClass.SD].kid_uuid
    wv = next(
        el for el in root.iter(f"{C}DRMSystem")
        if el.get("systemId") == drm.WIDEVINE.system_id and el.get("kid") == sd_kid
    )  # fmt: skip
    pssh = wv.find(f"{C}PSSH")
    assert pssh is not None and pssh.text
    assert base64.b64decode(pssh.text) == drm.widevine_pssh([keys[TrackClass.SD].kid])
    rules = {el.get("intendedTrackType"): el for el in root.iter(f"{C}ContentKeyUsageRule")}
    assert set(rules) == {"AUDIO", "SD", "HD", "UHD"}
    assert rules["AUDIO"].find(f"{C}AudioFilter") is not None
    hd = rules["HD"].find(f"{C}VideoFilter")
    assert hd is not None and hd.get("maxPixels") == str(1920 * 1080)
    assert rules["HD"].get("kid") == keys[TrackClass.HD].kid_uuid


def test_wrong_private_key_fails(document: bytes) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(CpixError, match="private key"):
        read_cpix(document, _pem(other))


def test_tampered_key_fails_mac(document: bytes, recipient: rsa.RSAPrivateKey) -> None:
    root = ET.fromstring(document)
    value = next(root.iter(f"{C}ContentKey")).find(
        ".//{http://www.w3.org/2001/04/xmlenc#}CipherValue"
    )
    assert value is not None and value.text
    blob = bytearray(base64.b64decode(value.text))
    blob[-1] ^= 1
    value.text = base64.b64encode(bytes(blob)).decode()
    with pytest.raises(CpixError, match="ValueMAC"):
        read_cpix(ET.tostring(root), _pem(recipient))


def test_non_rsa_certificate_rejected(keys: dict[TrackClass, ContentKey]) -> None:
    with pytest.raises(CpixError, match="RSA"):
        build_cpix("t", keys, _cert(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(CpixError, match="PEM"):
        build_cpix("t", keys, b"not a cert")

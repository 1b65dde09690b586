"""DASH-IF CPIX 2.3 documents: hand a title's content keys to a commercial multi-DRM service.

Key protection follows CPIX section 7 (encrypted key delivery):

- a random 32-byte document key encrypts each content key with AES-256-CBC (random IV
  prepended to the ciphertext, PKCS#7 padding) -- ``xmlenc#aes256-cbc``;
- a random 64-byte MAC key authenticates each encrypted value with HMAC-SHA512 over
  IV || ciphertext (``pskc:ValueMAC``) -- ``xmldsig-more#hmac-sha512``;
- document key and MAC key are each encrypted to the recipient certificate's RSA public key
  with RSA-OAEP, MGF1 and SHA-1 -- ``xmlenc#rsa-oaep-mgf1p``.

Not done: the optional XML signatures (``ds:Signature``) over the document or its lists.
Video usage rules use the pixel counts that classify tracks (domain/track_classes.py):
SD <= 768x576 pixels, HD <= 1920x1080, UHD above.

Parsing uses the standard library's ElementTree, intended for documents we produced or
received from a trusted peer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from reelflow.domain.content_keys import ContentKey
from reelflow.domain.track_classes import HD_MAX_PIXELS, SD_MAX_PIXELS, TrackClass
from reelflow.packaging import drm
from reelflow.packaging.errors import CpixError

CPIX_NS = "urn:dashif:org:cpix"
PSKC_NS = "urn:ietf:params:xml:ns:keyprov:pskc"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
ENC_NS = "http://www.w3.org/2001/04/xmlenc#"
ALG_AES256_CBC = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
ALG_RSA_OAEP = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
ALG_HMAC_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512"
for _prefix, _uri in (("cpix", CPIX_NS), ("pskc", PSKC_NS), ("ds", DS_NS), ("enc", ENC_NS)):
    ET.register_namespace(_prefix, _uri)

_VIDEO_FILTERS: dict[TrackClass, dict[str, str]] = {
    TrackClass.SD: {"maxPixels": str(SD_MAX_PIXELS)},
    TrackClass.HD: {"minPixels": str(SD_MAX_PIXELS + 1), "maxPixels": str(HD_MAX_PIXELS)},
    TrackClass.UHD: {"minPixels": str(HD_MAX_PIXELS + 1)},
}
RSA_OAEP = OAEP(mgf=MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)


def _c(tag: str) -> str:
    return f"{{{CPIX_NS}}}{tag}"


def _sub(
    parent: ET.Element, ns: str, tag: str, text: str | None = None, **attrs: str
) -> ET.Element:
    el = ET.SubElement(parent, f"{{{ns}}}{tag}", attrs)
    if text is not None:
        el.text = text
    return el


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _rsa_encrypted(parent: ET.Element, public_key: rsa.RSAPublicKey, secret: bytes) -> None:
    _sub(parent, ENC_NS, "EncryptionMethod", Algorithm=ALG_RSA_OAEP)
    cipher_data = _sub(parent, ENC_NS, "CipherData")
    _sub(cipher_data, ENC_NS, "CipherValue", _b64(public_key.encrypt(secret, RSA_OAEP)))


def _aes_cbc_encrypt(document_key: bytes, clear: bytes) -> bytes:
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(clear) + padder.finalize()
    enc = Cipher(algorithms.AES(document_key), modes.CBC(iv)).encryptor()
    return iv + enc.update(padded) + enc.finalize()


def _hls_fairplay_line(kid: bytes) -> str:
    return (
        f'#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://{kid.hex()}",'
        f'KEYFORMATVERSIONS="1",KEYFORMAT="{drm.FAIRPLAY.hls_keyformat}"'
    )


def build_cpix(
    title_id: str, keys: Mapping[TrackClass, ContentKey], recipient_cert_pem: bytes
) -> bytes:
    """A CPIX 2.3 document with ``keys`` encrypted to the certificate's RSA public key."""
    if not keys:
        raise CpixError("no content keys to export")
    cert, public_key = _recipient(recipient_cert_pem)
    document_key, mac_key = os.urandom(32), os.urandom(64)
    ordered = sorted(keys.values(), key=lambda k: k.track_class.value)
    root = ET.Element(_c("CPIX"), {"contentId": title_id, "version": "2.3"})
    _delivery_data(root, cert, public_key, document_key, mac_key)
    _content_key_list(root, ordered, document_key, mac_key)
    _drm_system_list(root, ordered)
    _usage_rule_list(root, ordered)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


def _recipient(pem: bytes) -> tuple[x509.Certificate, rsa.RSAPublicKey]:
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise CpixError(f"recipient certificate is not a PEM X.509 certificate: {exc}") from None
    public_key = cert.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise CpixError("recipient certificate must carry an RSA public key (CPIX uses RSA-OAEP)")
    return cert, public_key


def _delivery_data(
    root: ET.Element,
    cert: x509.Certificate,
    public_key: rsa.RSAPublicKey,
    document_key: bytes,
    mac_key: bytes,
) -> None:
    """The recipient's certificate, and the document and MAC keys encrypted to it."""
    delivery = _sub(_sub(root, CPIX_NS, "DeliveryDataList"), CPIX_NS, "DeliveryData")
    x509_data = _sub(_sub(delivery, CPIX_NS, "DeliveryKey"), DS_NS, "X509Data")
    _sub(x509_data, DS_NS, "X509Certificate", _b64(cert.public_bytes(serialization.Encoding.DER)))
    doc_key = _sub(delivery, CPIX_NS, "DocumentKey", Algorithm=ALG_AES256_CBC)
    secret = _sub(_sub(doc_key, CPIX_NS, "Data"), PSKC_NS, "Secret")
    _rsa_encrypted(_sub(secret, PSKC_NS, "EncryptedValue"), public_key, document_key)
    mac_method = _sub(delivery, CPIX_NS, "MACMethod", Algorithm=ALG_HMAC_SHA512)
    _rsa_encrypted(_sub(mac_method, CPIX_NS, "Key"), public_key, mac_key)


def _content_key_list(
    root: ET.Element, ordered: Sequence[ContentKey], document_key: bytes, mac_key: bytes
) -> None:
    """Each content key encrypted under the document key, with its MAC."""
    key_list = _sub(root, CPIX_NS, "ContentKeyList")
    for ck in ordered:
        el = _sub(key_list, CPIX_NS, "ContentKey", kid=ck.kid_uuid, commonEncryptionScheme="cbcs")
        sec = _sub(_sub(el, CPIX_NS, "Data"), PSKC_NS, "Secret")
        enc_value = _sub(sec, PSKC_NS, "EncryptedValue")
        _sub(enc_value, ENC_NS, "EncryptionMethod", Algorithm=ALG_AES256_CBC)
        blob = _aes_cbc_encrypt(document_key, ck.key)
        _sub(_sub(enc_value, ENC_NS, "CipherData"), ENC_NS, "CipherValue", _b64(blob))
        _sub(sec, PSKC_NS, "ValueMAC", _b64(hmac.new(mac_key, blob, hashlib.sha512).digest()))


def _drm_system_list(root: ET.Element, ordered: Sequence[ContentKey]) -> None:
    """Every DRM system's signalling per key: PSSH, and FairPlay's HLS key line."""
    systems = _sub(root, CPIX_NS, "DRMSystemList")
    for ck in ordered:
        for system in drm.ALL_SYSTEMS:
            el = _sub(systems, CPIX_NS, "DRMSystem", kid=ck.kid_uuid, systemId=system.system_id)
            pssh = drm.pssh_for(system, [ck.kid])
            if pssh is not None:
                _sub(el, CPIX_NS, "PSSH", _b64(pssh))
            if system is drm.FAIRPLAY:
                _sub(el, CPIX_NS, "URIExtXKey", _b64(f"skd://{ck.kid.hex()}".encode()))
                line = _hls_fairplay_line(ck.kid).encode()
                _sub(el, CPIX_NS, "HLSSignalingData", _b64(line), playlist="media")


def _usage_rule_list(root: ET.Element, ordered: Sequence[ContentKey]) -> None:
    """Which tracks each key is for: audio, or video by pixel count."""
    rules = _sub(root, CPIX_NS, "ContentKeyUsageRuleList")
    for ck in ordered:
        rule = _sub(
            rules,
            CPIX_NS,
            "ContentKeyUsageRule",
            kid=ck.kid_uuid,
            intendedTrackType=ck.track_class.value,
        )
        if ck.track_class is TrackClass.AUDIO:
            _sub(rule, CPIX_NS, "AudioFilter")
        else:
            _sub(rule, CPIX_NS, "VideoFilter", **_VIDEO_FILTERS[ck.track_class])

"""Live contacts (phones, mailboxes, addresses the bank controls) in a column's own shape.

A live canary carries one of the bank's own contact points instead of a
synthetic one (tracer.live), so a call, a mail or a letter to it is a
sighting. It must still look like its neighbours: a canary reading
'13912340001' in a column of '+86 138-0013-8000' is the first thing a
careful leaker would notice. The canary's synthetic value, which synthesis
already wrote in its donor's format, is the template the contact is written
into. Addresses are free text: they are written as the bank gave them and
matched in a normal form (``normalize_address``).

Pure: no I/O.
"""

from __future__ import annotations

import unicodedata

_FULLWIDTH_ZERO = 0xFF10  # '０'


def phone_like(template: str | None, digits: str) -> str:
    """The 11-digit mobile ``digits`` laid out like ``template``.

    The template's last 11 digits are the number (anything before them, such
    as a +86 country code, is kept), and every separator stays where it is;
    full-width digits stay full-width. A template with fewer than 11 digits
    gives the bare number.

    >>> phone_like("+86 138-0013-8000", "13912340001")
    '+86 139-1234-0001'
    """
    if len(digits) != 11 or not digits.isascii() or not digits.isdigit():
        raise ValueError("digits must be a bare 11-digit mobile number")
    if not template:
        return digits
    positions = [i for i, ch in enumerate(template) if ch.isdigit()]
    if len(positions) < 11:
        return digits
    out = list(template)
    for i, d in zip(positions[-11:], digits):
        out[i] = d if template[i].isascii() else chr(_FULLWIDTH_ZERO + int(d))
    return "".join(out)


def email_like(template: str | None, email: str) -> str:
    """``email`` (normalised, lower case) in the template's case: upper case
    where the template's domain is written in capitals, as some core systems
    store mailboxes.

    >>> email_like("abc12@QQ.COM", "c1@bank.example")
    'C1@BANK.EXAMPLE'
    """
    domain = (template or "").rpartition("@")[2]
    if any(ch.isalpha() for ch in domain) and domain.isupper():
        return email.upper()
    return email


def normalize_address(text: str | None) -> str | None:
    """An address in the form two writings of it share, or None if too
    little is left to match on (fewer than 4 characters).

    Full-width characters fold to ASCII (NFKC), Latin letters to lower case,
    and white space, punctuation and symbols go: '北京市朝阳区 建国路８８号，３单元'
    and '北京市朝阳区建国路88号3单元' are one address.
    """
    if text is None:
        return None
    t = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(ch for ch in t if unicodedata.category(ch)[0] not in "PZSC")
    return kept if len(kept) >= 4 else None


def tidy_address(text: str) -> str:
    """An address as it will be written into an export: trimmed, runs of
    white space made one space."""
    return " ".join(text.split())

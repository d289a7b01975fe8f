"""What a column holds, as far as fingerprinting is concerned.

The kinds are shared by column typing (forensics), canary synthesis and the
validators a careful leaker would run, so they live here, in the pure layer.
"""

from __future__ import annotations

import enum


class Kind(str, enum.Enum):
    IDNO = "idno"  # 18-character resident ID number (GB 11643)
    PHONE = "phone"  # mainland mobile number
    NAME = "name"  # person's name
    GENDER = "gender"  # 男/女, M/F
    BIRTHDATE = "birthdate"  # must agree with the ID number: never marked
    AGE = "age"  # must agree with the ID number: never marked
    ADDRESS = "address"
    EMAIL = "email"
    CUSTNO = "custno"  # the bank's own customer number
    ACCOUNT = "account"  # account or card number
    AMOUNT = "amount"  # money: balances, limits, income
    DATE = "date"  # an event date (account opened, last transaction)
    BRANCH = "branch"
    TIER = "tier"
    OTHER = "other"


#: Identifier kinds: linked through keyed digests, never changed in meaning.
IDENTIFIERS = (Kind.IDNO, Kind.CUSTNO, Kind.PHONE, Kind.EMAIL, Kind.ACCOUNT)

#: Kinds whose values may carry a mark (within a declared tolerance).
MARKABLE = (Kind.AMOUNT, Kind.DATE)

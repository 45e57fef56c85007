from decimal import Decimal
from typing import Any

import pytest

from engine.kraken.codec import CodecError, decode, encode
from engine.kraken.signing import NonceSource, kraken_sign

KRAKEN_SECRET = (
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
)


def test_kraken_published_signing_vector() -> None:
    body = "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
    assert kraken_sign("/0/private/AddOrder", 1616492376594, body, KRAKEN_SECRET) == (
        "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
    )


def test_secondary_vectors() -> None:
    secret = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
    assert kraken_sign(
        "/0/private/Balance", "1700000000000000000", "nonce=1700000000000000000", secret
    ) == (
        "6i7+cpXVLDDnDOekgsRcgFQhkYFyPDSSxhSVA8OrA6vjziXcy2K1DP3n7f9B/Kgni71WjBSQusZKxduRsdF20Q=="
    )
    assert kraken_sign(
        "/0/private/CancelAllOrdersAfter",
        1616492376594,
        '{"nonce":1616492376594,"timeout":60}',
        KRAKEN_SECRET,
    ) == (
        "NJDD2t4PRTRf9x5a2TM0S3CbSObh7hBIiMWtOMpEbgzocumKkPnV1I8pXOsvxkDggwAAhXIM1t3O7cP21HWfpw=="
    )


def test_nonce_strictly_increases_even_when_clock_steps_back() -> None:
    times = iter([1000, 1000, 999, 5000])
    source = NonceSource(lambda: next(times))
    assert [source.next() for _ in range(4)] == [1000, 1001, 1002, 5000]


def test_nonce_resumes_after_last_persisted() -> None:
    assert NonceSource(lambda: 10, last=50).next() == 51


def test_decimal_round_trip_is_exact() -> None:
    text = '{"p":26500.4,"q":0.123456789012345678,"n":3,"big":13834774380200032777}'
    frame = decode(text)
    assert frame["p"] == Decimal("26500.4")
    assert frame["q"] == Decimal("0.123456789012345678")
    assert frame["big"] == 13834774380200032777
    assert encode(frame) == text


def test_encode_never_uses_exponent_and_refuses_floats() -> None:
    assert encode({"x": Decimal("1E+2"), "y": Decimal("1E-8")}) == '{"x":100,"y":0.00000001}'
    with pytest.raises(CodecError):
        encode({"x": 1.5})
    with pytest.raises(CodecError):
        decode("[1,2]")
    with pytest.raises(CodecError):
        decode("{not json")


@pytest.mark.parametrize(
    ("text", "expected"),
    [(' \n{"a":1.5}\r\n', {"a": Decimal("1.5")}), (b'{"a":2}', {"a": 2})],
)
def test_decode_takes_what_json_loads_takes(text: str | bytes, expected: dict[str, Any]) -> None:
    assert decode(text) == expected


@pytest.mark.parametrize("text", ['{"a":1} x', '{"a":1}{"b":2}', "", "   ", b"\xff"])
def test_decode_refuses_trailing_data_and_non_json(text: str | bytes) -> None:
    with pytest.raises(CodecError):
        decode(text)

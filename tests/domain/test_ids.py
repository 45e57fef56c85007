"""req_id counter and cl_ord_id formats."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.domain.ids import REQ_ID_MAX, ReqIdCounter, is_valid_cl_ord_id, new_cl_ord_id


def test_req_ids_count_up_from_one() -> None:
    counter = ReqIdCounter()
    assert [counter.next() for _ in range(3)] == [1, 2, 3]
    assert counter.peek() == 4


def test_req_ids_wrap_below_two_to_the_31() -> None:
    counter = ReqIdCounter(start=REQ_ID_MAX - 1)
    assert [counter.next() for _ in range(3)] == [REQ_ID_MAX - 1, REQ_ID_MAX, 1]
    assert REQ_ID_MAX == 2**31 - 1


@pytest.mark.parametrize("start", [0, -1, 2**31])
def test_req_id_start_must_be_a_positive_int32(start: int) -> None:
    with pytest.raises(ValueError):
        ReqIdCounter(start)


def test_cl_ord_id_from_bytes_is_a_deterministic_uuid4() -> None:
    raw = bytes(range(16))
    value = new_cl_ord_id(raw)
    assert value == new_cl_ord_id(raw)
    assert len(value) == 36
    assert uuid.UUID(value).version == 4
    assert is_valid_cl_ord_id(value)


def test_cl_ord_id_needs_sixteen_bytes() -> None:
    with pytest.raises(ValueError):
        new_cl_ord_id(b"short")


@given(st.binary(min_size=16, max_size=16))
def test_every_minted_id_is_valid(raw: bytes) -> None:
    value = new_cl_ord_id(raw)
    assert len(value) == 36 and is_valid_cl_ord_id(value)


@pytest.mark.parametrize(
    "value",
    [
        "6d1b3a8e-8f0b-4c4e-9a57-1f9b8c2d7e01",
        "6D1B3A8E-8F0B-4C4E-9A57-1F9B8C2D7E01",
        "6d1b3a8e8f0b4c4e9a571f9b8c2d7e01",
        "my-order-1",
        "a",
        "exactly-18-chars!!",
    ],
)
def test_valid_cl_ord_ids(value: str) -> None:
    assert is_valid_cl_ord_id(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "nineteen-characters",
        "6d1b3a8e-8f0b-4c4e-9a57-1f9b8c2d7e0",  # 35 chars, neither form
        "6d1b3a8e-8f0b-4c4e-9a57-1f9b8c2d7e0g",
        "tab\tinside",
        "café",
    ],
)
def test_invalid_cl_ord_ids(value: str) -> None:
    assert not is_valid_cl_ord_id(value)

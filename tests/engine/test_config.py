"""EngineConfig refuses settings the engine cannot honour, naming the field, at construction."""

from __future__ import annotations

from typing import Any

import pytest

from engine.config import EngineConfig
from engine.errors import ConfigError


def _config(**fields: Any) -> EngineConfig:
    return EngineConfig(api_key="k", api_secret="c2VjcmV0", **fields)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"order_deadline": 0.1}, "order_deadline"),
        ({"sqlite_synchronous": "OFF"}, "sqlite_synchronous"),
        ({"rate_limit_tier": "gold"}, "rate_limit_tier"),
        ({"caller_headstart_s": -0.001}, "caller_headstart_s"),
        ({"caller_headstart_s": 0.5}, "caller_headstart_s"),
        ({"max_orders_per_commit": 0}, "max_orders_per_commit"),
        ({"max_orders_per_commit": 513}, "max_orders_per_commit"),
    ],
)
def test_a_setting_out_of_range_is_refused_by_name(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        _config(**fields)


def test_the_caller_head_start_can_be_turned_off_and_read_from_the_environment() -> None:
    assert _config().caller_headstart_s == 0.0005
    assert _config(caller_headstart_s=0).caller_headstart_s == 0
    environ = {"KRAKEN_API_KEY": "k", "KRAKEN_API_SECRET": "c2VjcmV0",
               "KRAKEN_CALLER_HEADSTART_S": "0.0002"}  # fmt: skip
    assert EngineConfig.from_env(environ).caller_headstart_s == 0.0002


def test_a_secret_that_is_not_base64_is_refused_by_name_without_being_shown() -> None:
    secret = "not-base64!!"  # the signer could not decode it
    with pytest.raises(ConfigError, match="api_secret") as refused:
        EngineConfig(api_key="k", api_secret=secret)
    assert secret not in str(refused.value)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__

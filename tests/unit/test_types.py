"""Property tests for the shared value types: what parses, what round-trips, what is refused."""

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from tcra.model import CountryCode, IPv6Prefix, Quantity
from tcra.model.types import _UNITS, MAX_QUANTITY


class Holder(BaseModel):
    quantity: Quantity | None = None
    prefix: IPv6Prefix | None = None
    country: CountryCode | None = None


@given(st.integers(min_value=0, max_value=2**62))
def test_quantity_text_round_trips(number):
    assert Quantity(str(Quantity(number))).bytes == number


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(sorted(_UNITS)))
def test_quantity_unit_multiplies_up_to_8ei(number, unit):
    size = number * _UNITS[unit]
    if size <= MAX_QUANTITY:
        assert Quantity(f"{number}{unit}").bytes == size
    else:
        with pytest.raises(ValueError, match="at most 8Ei"):
            Quantity(f"{number}{unit}")


def test_quantity_known_values():
    assert Quantity("16Gi").bytes == 16 * 2**30
    assert Quantity("1G").bytes == 10**9
    assert str(Quantity(2 * 2**20)) == "2Mi"
    assert Quantity("1Gi") > Quantity("1G")


@given(st.text().filter(lambda t: not t.strip().isdigit()))
def test_quantity_rejects_text_that_is_not_a_quantity(text):
    stripped = text.strip()
    if any(stripped.endswith(u) and stripped[: -len(u)].strip().isdigit() for u in _UNITS if u):
        return  # a real quantity, drawn by chance
    with pytest.raises(ValidationError) as caught:
        Holder(quantity=text)
    assert 'like "16Gi"' in str(caught.value)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "16 GB", "Gi", "-3Mi"])
def test_quantity_rejects_numbers_it_cannot_hold_exactly(bad):
    with pytest.raises(ValidationError, match="expected a whole number of bytes"):
        Holder(quantity=bad)


def test_quantity_serialises_as_text():
    assert Holder(quantity="512Mi").model_dump(mode="json")["quantity"] == "512Mi"


@given(st.integers(min_value=0, max_value=2**128 - 1), st.integers(min_value=0, max_value=128))
def test_ipv6_prefix_round_trips(address, length):
    network = ipaddress.IPv6Network((address, length), strict=False)
    held = Holder(prefix=str(network))
    assert held.prefix == network
    assert Holder.model_validate(held.model_dump(mode="json")).prefix == network


@pytest.mark.parametrize("bad", ["2001:db8::1/48", "10.0.0.0/8", "2001:db8:zz::/48", "2001:db8::",
                                 "fe80::/129", 42])
def test_ipv6_prefix_rejects_what_is_not_a_prefix(bad):
    with pytest.raises(ValidationError, match="expected an IPv6 prefix"):
        Holder(prefix=bad)


@pytest.mark.parametrize(("given_code", "held"), [("de", "DE"), ("FR", "FR"), ("se", "SE")])
def test_country_code_is_upper_cased(given_code, held):
    assert Holder(country=given_code).country == held


@pytest.mark.parametrize("bad", ["XX", "Germany", "DEU", "", 49])
def test_country_code_rejects_non_iso(bad):
    with pytest.raises(ValidationError, match="ISO 3166-1 alpha-2"):
        Holder(country=bad)


def test_quantity_refuses_more_than_a_64_bit_counter_holds():
    from pydantic import TypeAdapter, ValidationError

    assert Quantity("7Ei").bytes == 7 * 2**60
    for absurd in (10**400, "9Ei", "1" * 5000):
        with pytest.raises(ValidationError, match="expected a whole number of bytes"):
            TypeAdapter(Quantity).validate_python(absurd)

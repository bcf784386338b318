"""MaxMind's own geoip2 client against an ipintel server over TLS.

Usage: geoip2_sdk.py HOST:PORT ACCOUNT_ID KEY FREE_ACCOUNT_ID FREE_KEY
The CA bundle comes from REQUESTS_CA_BUNDLE / SSL_CERT_FILE, set by the Rust test.
Prints one line per check and exits non-zero on the first failure.
"""
import asyncio
import sys

import geoip2.errors
import geoip2.webservice

host, account, key, free_account, free_key = sys.argv[1:6]
account, free_account = int(account), int(free_account)


def check(label, cond):
    print(("ok   " if cond else "FAIL ") + label)
    if not cond:
        sys.exit(1)


def expect_error(label, exc_type, fn, code=None):
    try:
        fn()
    except exc_type as e:
        check(f"{label} raises {exc_type.__name__}", code is None or getattr(e, "code", code) == code)
        return
    except Exception as e:  # noqa: BLE001
        check(f"{label} raised {type(e).__name__}: {e}", False)
    check(f"{label} raised nothing", False)


with geoip2.webservice.Client(account, key, host=host, locales=["fr", "en"]) as client:
    city = client.city("81.2.69.165")
    check("city name, French locale first", city.city.name == "Londres")
    check("city names map", city.city.names["ru"] == "Лондон")
    check("country", city.country.iso_code == "GB")
    check("registered country", city.registered_country.iso_code == "US")
    check("subdivision", city.subdivisions.most_specific.iso_code == "WBK")
    check("location", abs(city.location.latitude - 51.5142) < 1e-9 and city.location.accuracy_radius == 100)
    check("postal", city.postal.code == "EC2V")
    check("traits isp", city.traits.isp == "Andrews & Arnold Ltd")
    check("traits asn", city.traits.autonomous_system_number == 20712)
    check("traits network", str(city.traits.network) == "81.2.69.160/29")
    check("traits ip", str(city.traits.ip_address) == "81.2.69.165")

    country = client.country("2001:218::1")
    check("country over IPv6", country.country.iso_code == "JP" and country.country.names["ja"] == "日本")
    check("continent", country.continent.code == "AS")

    insights = client.insights("81.2.69.165")
    check("insights anonymizer", insights.anonymizer.is_tor_exit_node is True)
    check("insights deprecated trait copy", insights.traits.is_anonymous_vpn is True)
    check("insights confidence", insights.city.confidence == 50)

    military = client.country("202.196.224.1")
    check("represented country type", military.represented_country.type == "military")

    expect_error("reserved", geoip2.errors.AddressNotFoundError, lambda: client.city("10.0.0.1"))
    expect_error("not found", geoip2.errors.AddressNotFoundError, lambda: client.city("1.2.3.4"))
    expect_error("me from loopback", geoip2.errors.AddressNotFoundError, lambda: client.city("me"))

with geoip2.webservice.Client(account, "ipk_not_a_key", host=host) as bad:
    expect_error("bad key", geoip2.errors.AuthenticationError, lambda: bad.city("81.2.69.165"))
with geoip2.webservice.Client(account + 1000, key, host=host) as bad:
    expect_error("wrong account", geoip2.errors.AuthenticationError, lambda: bad.city("81.2.69.165"))
with geoip2.webservice.Client(free_account, free_key, host=host) as free:
    check("free plan city", free.city("89.160.20.115").city.name == "Linköping")
    expect_error("free plan insights", geoip2.errors.PermissionRequiredError, lambda: free.insights("81.2.69.165"))
    expect_error("free plan out of credits", geoip2.errors.OutOfQueriesError, lambda: free.city("81.2.69.165"))


async def async_client():
    async with geoip2.webservice.AsyncClient(account, key, host=host) as client:
        city = await client.city("89.160.20.115")
        check("async client city", city.city.name == "Linköping" and city.traits.domain == "bredband2.com")


asyncio.run(async_client())
print("all checks passed")

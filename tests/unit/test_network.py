"""Where phones reach the booth (kiosk/network.py): never a loopback address, never the
request's Host; each problem in the phones' way said with its fix. The route tables are files
written here; the interfaces are this machine's own (``lo`` always has 127.0.0.1)."""

from __future__ import annotations

import signal
import socket
import time
from dataclasses import replace

import pytest
from aiohttp import encode_basic_auth

from kiosk.app import create_app
from kiosk.keys import LINKS
from kiosk.network import (
    LISTEN_FIX,
    Addresses,
    _default_route_interface,
    _interface_ipv4,
    is_loopback,
    machine_addresses,
    public_base,
    reachability,
)
from tests.support.processes import free_port, serve

HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT"
LAN = Addresses("192.168.4.20", (), "booth")
HOTSPOT_ONLY = Addresses(None, (("wlan0", "10.42.0.1"),), "booth")
NOWHERE = Addresses(None, (), "booth")


def route_table(tmp_path, *rows: str):
    path = tmp_path / "route"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def test_the_default_route_is_the_row_with_destination_and_mask_zero(tmp_path) -> None:
    table = route_table(
        tmp_path,
        "wlan0\t0000A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0",  # 192.168.0.0/24
        "eth1\t00000000\t0104A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0",  # default via eth1
    )
    assert _default_route_interface(table) == "eth1"
    only_local = route_table(
        tmp_path, "wlan0\t0000A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0"
    )
    assert _default_route_interface(only_local) is None  # a hotspot with no uplink
    assert _default_route_interface(tmp_path / "missing") is None


def test_interface_addresses_are_read_from_the_kernel_and_loopback_is_refused(tmp_path) -> None:
    assert _interface_ipv4("lo") == "127.0.0.1"
    assert _interface_ipv4("no-such-if0") is None
    # A default route through lo (a broken setup): its 127.0.0.1 is no LAN address.
    via_lo = route_table(tmp_path, "lo\t00000000\t00000000\t0003\t0\t0\t0\t00000000\t0\t0\t0")
    found = machine_addresses(via_lo)
    assert found.lan is None
    assert all(not address.startswith("127.") for _name, address in found.others)
    assert found.hostname == socket.gethostname()


def test_without_public_url_the_qr_base_is_the_lan_address_whatever_the_bind(settings) -> None:
    for host in ("127.0.0.1", "0.0.0.0", "::", "localhost"):
        booth = replace(settings, host=host, port=8123, public_url=None)
        assert public_base(booth, LAN) == "http://192.168.4.20:8123", host
    # The booth's own hotspot, no default route: the hotspot's address.
    assert public_base(replace(settings, host="0.0.0.0"), HOTSPOT_ONLY) == "http://10.42.0.1:8080"
    # Bound to one address of a network: that address, the only one the server answers on.
    one = replace(settings, host="10.42.0.1")
    assert public_base(one, LAN) == "http://10.42.0.1:8080"
    assert reachability(one, LAN).problems == ()
    # public_url wins, its trailing slash dropped.
    proxied = replace(settings, public_url="https://booth.example/")
    assert public_base(proxied, NOWHERE) == "https://booth.example"
    assert reachability(proxied, NOWHERE).problems == ()


def test_bound_to_loopback_only_says_phones_cannot_reach_it_and_how_to_fix_it(settings) -> None:
    reach = reachability(replace(settings, host="127.0.0.1", public_url=None), LAN)
    assert reach.phone_base == "http://192.168.4.20:8080"
    assert reach.booth_url == "http://127.0.0.1:8080/"
    (problem,) = reach.problems
    assert "127.0.0.1 (loopback) only" in problem.what and "phones cannot reach it" in problem.what
    assert problem.fix == LISTEN_FIX
    assert 'host = "0.0.0.0"' in problem.fix and "public_url" in problem.fix
    everywhere = reachability(replace(settings, host="0.0.0.0"), LAN)
    assert everywhere.problems == () and everywhere.booth_url == "http://127.0.0.1:8080/"


def test_no_network_at_all_is_a_problem_and_the_qr_carries_the_mdns_name(settings) -> None:
    reach = reachability(replace(settings, host="0.0.0.0"), NOWHERE)
    assert reach.phone_base == "http://booth.local:8080"
    (problem,) = reach.problems
    assert "no network address" in problem.what
    assert "hotspot" in problem.fix and "public_url" in problem.fix


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080", "http://localhost:8080/", "http://[::1]:8080", "http://x.localhost"],
)
def test_a_public_url_on_loopback_is_a_problem(settings, url: str) -> None:
    reach = reachability(replace(settings, host="0.0.0.0", public_url=url), LAN)
    (problem,) = reach.problems
    assert "loopback" in problem.what and "phone itself" in problem.what
    assert "http://192.168.4.20:8080" in problem.fix  # the address that would work


def test_a_public_url_that_is_no_web_address_is_a_problem(settings) -> None:
    (problem,) = reachability(replace(settings, public_url="booth.example"), LAN).problems
    assert "no web address" in problem.what


def test_a_network_changed_since_start_says_restart(settings) -> None:
    booth = replace(settings, host="0.0.0.0")
    assert reachability(booth, LAN, serving="http://192.168.4.20:8080").problems == ()
    (problem,) = reachability(booth, LAN, serving="http://10.0.0.9:8080").problems
    assert "QR codes carry http://10.0.0.9:8080" in problem.what and "restart" in problem.fix


def test_the_admin_url_is_none_when_the_admin_page_is_off(settings) -> None:
    off = reachability(replace(settings, admin_password=None), LAN)
    assert off.admin_on is False and off.admin_url is None
    on = reachability(replace(settings, admin_password="pw"), LAN)
    assert on.admin_on and on.admin_url == "http://127.0.0.1:8080/admin/"
    own = reachability(replace(settings, admin_password="pw", admin_port=8081), LAN)
    assert own.admin_url == "http://127.0.0.1:8081/admin/"
    assert own.as_json()["problems"][0]["fix"] == LISTEN_FIX


def test_loopback_names_and_addresses() -> None:
    for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST", "a.localhost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "192.168.1.2", "booth.example", "10.42.0.1"):
        assert not is_loopback(host), host


async def test_the_admin_api_and_healthz_say_where_phones_reach_the_booth(
    aiohttp_client, settings
) -> None:
    booth = replace(settings, host="127.0.0.1", port=8123, admin_password="s3cret")
    app = create_app(booth)
    client = await aiohttp_client(app)
    qr_base = app[LINKS].public_base  # what every QR code of this server carries
    assert not qr_base.startswith("http://127.")
    operator = {"Authorization": encode_basic_auth("operator", "s3cret")}
    answer = await client.get("/admin/api/network", headers=operator)
    assert answer.status == 200
    body = await answer.json()
    assert body["phone_base"] == qr_base and body["admin_on"] is True
    assert body["booth_url"] == "http://127.0.0.1:8123/"
    assert body["admin_url"] == "http://127.0.0.1:8123/admin/"
    assert [problem["fix"] for problem in body["problems"]] == [LISTEN_FIX]
    client.session.cookie_jar.clear()  # the session the password started
    assert (await client.get("/admin/api/network")).status == 401  # the operator's only
    health = await (await client.get("/healthz")).json()
    assert health["network"]["phones"] == qr_base
    assert [problem.endswith(LISTEN_FIX) for problem in health["network"]["problems"]] == [True]
    assert not any("loopback" in problem for problem in health["problems"])  # not degraded


def test_stylebooth_serve_prints_the_booth_the_admin_page_and_the_phones_address(
    settings, tmp_path
) -> None:
    port, log = free_port(), tmp_path / "serve.log"
    server = serve(settings, port, log, "--no-worker")
    try:
        deadline = time.monotonic() + 60
        while "Phones:" not in log.read_text() and time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()
            time.sleep(0.1)
        lines = [line for line in log.read_text().splitlines() if " INFO " not in line]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    booth = f"http://127.0.0.1:{port}/"
    assert lines[0] == f"StyleBooth is running at {booth} (the booth screen, for the kiosk browser)"
    assert lines[1] == "Admin page: none"
    assert lines[2].startswith("Admin page on: no (set admin_password")
    phones = public_base(replace(settings, port=port))
    assert lines[3] == f"Phones: QR codes carry {phones}" and "127.0.0.1" not in phones
    assert lines[4].startswith("WARNING: the server listens on 127.0.0.1 (loopback) only")
    assert 'host = "0.0.0.0"' in lines[4]

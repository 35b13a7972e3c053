"""Passwords, the users file, the bind check and CSRF tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.core.errors import ConfigError
from monitor.web.security import (
    Auth,
    Csrf,
    check_bind,
    hash_password,
    load_users,
    verify_password,
)
from monitor.web.server import parse_address, url_of


def test_a_password_hash_verifies_only_its_password() -> None:
    encoded = hash_password("correct horse")
    assert encoded.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct horsE", encoded)
    assert hash_password("correct horse") != encoded  # a fresh salt each time
    assert not verify_password("x", "scrypt$1$1$1$!!$!!")  # malformed: refused, no exception
    assert not verify_password("x", "md5$abc")


def test_the_users_file_is_read_or_refused_with_its_line(tmp_path: Path) -> None:
    good = tmp_path / "users"
    good.write_text(f"# comment\n\nana:{hash_password('pw')}\n")
    assert list(load_users(good)) == ["ana"]
    bad = tmp_path / "bad"
    bad.write_text(f"ana:{hash_password('pw')}\nbob:plaintext\n")
    with pytest.raises(ConfigError) as caught:
        load_users(bad)
    assert caught.value.line == 2 and caught.value.file == str(bad)
    empty = tmp_path / "empty"
    empty.write_text("# nobody\n")
    with pytest.raises(ConfigError, match="no user"):
        load_users(empty)
    with pytest.raises(ConfigError, match="cannot read"):
        load_users(tmp_path / "missing")


def test_a_public_bind_needs_authentication() -> None:
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        check_bind(host, Auth())
    for host in ("0.0.0.0", "192.0.2.7", "::", "example.org"):
        with pytest.raises(ConfigError, match="not a loopback address"):
            check_bind(host, Auth())
        check_bind(host, Auth(users={"ana": hash_password("pw")}))
        check_bind(host, Auth(proxy_header="X-Remote-User"))


def test_basic_auth_checks_user_and_password() -> None:
    import base64

    auth = Auth(users={"ana": hash_password("pw")})

    def header(text: str) -> str:
        return "Basic " + base64.b64encode(text.encode()).decode()

    assert auth.check_basic(header("ana:pw")) == "ana"
    assert auth.check_basic(header("ana:pw")) == "ana"  # remembered
    assert auth.check_basic(header("ana:PW")) is None
    assert auth.check_basic(header("eve:pw")) is None
    assert auth.check_basic("Basic !!!") is None
    assert auth.check_basic("Bearer abc") is None


def test_csrf_tokens_are_per_user_and_per_process() -> None:
    csrf = Csrf()
    token = csrf.token("ana")
    assert csrf.valid("ana", token)
    assert not csrf.valid("bob", token)
    assert not csrf.valid("ana", "")
    assert not Csrf().valid("ana", token)


def test_addresses() -> None:
    assert parse_address("8765") == ("127.0.0.1", 8765)
    assert parse_address("0.0.0.0:80") == ("0.0.0.0", 80)
    assert parse_address("[::1]:8765") == ("::1", 8765)
    assert url_of("::1", 8765) == "http://[::1]:8765/"
    for bad in ("", "host:", "70000", "x:y"):
        with pytest.raises(ConfigError, match="PORT"):
            parse_address(bad)

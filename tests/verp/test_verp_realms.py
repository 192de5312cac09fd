"""Realms that are real wiki ids (issue 15): listed realms carried as a fixed-width reference,
the 64-character extremes, collisions, list files, and the tokens made before the change."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from reconciler import verp
from reconciler.cli import main
from reconciler.config import VerpKey, VerpSettings, load_settings
from reconciler.errors import ConfigError
from reconciler.records import VerpFailure
from reconciler.verp import MAX_USER_ID, check_address, make_address

KEY = VerpKey("a", b"a secret of at least 16 bytes")
PLAIN = VerpSettings(domain="bounces.example.org", keys=(KEY,))
FARM_REALMS = ("enwiki", "zh_min_nanwikisource", "be_x_oldwiki", "wikimaniawiki", "x" * 32)
FARM = dataclasses.replace(PLAIN, realms=FARM_REALMS)
NOW = 1_800_000_000
RCPT = "kim@example.net"

# Tokens made by the code before issue 15 (key "a" above, issued at NOW): every format of
# the time, unbound and bound, with and without realm and send reference.  They must keep
# verifying with and without a realm list.  (uid, bound address, realm, send ref, token)
BEFORE = [
    (12345, None, None, None, "bounces+a9ix.3o9q805og4daq5lutiamlv@bounces.example.org"),
    (12345, None, "enwiki", None,
     "bounces+a9ix.3o9q804ka2ku7mdiywaku5.enwiki@bounces.example.org"),
    (12345, None, "enwiki", "dpqp",
     "bounces+a9ix.3o9q80tzygoucmsgwdyvl7dpqp.enwiki@bounces.example.org"),
    (12345, None, None, "dpqp", "bounces+a9ix.3o9q80w73i6xsggmwouztpdpqp@bounces.example.org"),
    (12345, RCPT, None, None, "bounces+a9ix.3o9q80cz2v2okxduy2jk4ymp7wut@bounces.example.org"),
    (12345, RCPT, "enwiki", None,
     "bounces+a9ix.3o9q80zm22c4qbap6f6bgbmp7wut.enwiki@bounces.example.org"),
    (12345, RCPT, "enwiki", "dpqp",
     "bounces+a9ix.3o9q80ejuc4dlumpforyecmp7wutdpqp.enwiki@bounces.example.org"),
    (MAX_USER_ID, RCPT, "zh-min", "dpqp",
     "bounces+a1y2p0ij32e8e7.3o9q80dnlxjlotw2disx2dmp7wutdpqp.zh-min@bounces.example.org"),
    (0, None, "wiki.example-site", None,
     "bounces+a0.3o9q80dwqr4zq5fybut2vq.wiki.example-site@bounces.example.org"),
]  # fmt: skip


@pytest.mark.parametrize("settings", [PLAIN, FARM], ids=["no list", "enwiki listed"])
@pytest.mark.parametrize(("uid", "bound", "realm", "ref", "token"), BEFORE)
def test_tokens_made_before_the_change_still_verify(
    settings: VerpSettings, uid: int, bound: str | None, realm: str | None, ref: str | None,
    token: str,
) -> None:  # fmt: skip
    match = check_address(settings, token, NOW + 60)
    assert match.valid, match.failure
    assert (match.user_id, match.realm, match.send_ref) == (uid, realm, ref)
    assert match.realm_ref is None  # carried by name, as then
    assert verp.binds(settings, match, RCPT) is (True if bound else None)


def test_a_listed_realm_is_carried_as_its_reference_and_resolved_to_its_name() -> None:
    address = make_address(FARM, user_id=12345, address=RCPT, realm="EnWiki", now=NOW)
    ref = verp.realm_ref("enwiki")
    assert len(ref) == verp.REF_CHARS == 8
    assert address.endswith(f"-{ref}@bounces.example.org") and "enwiki" not in address
    match = check_address(FARM, address, NOW)
    assert (match.valid, match.realm, match.realm_ref) == (True, "enwiki", ref)
    # an unlisted realm is carried by name, as before
    by_name = make_address(FARM, user_id=1, address=RCPT, realm="dewiki", now=NOW)
    assert by_name.endswith(".dewiki@bounces.example.org")
    assert check_address(FARM, by_name, NOW).realm == "dewiki"


def test_the_mac_covers_the_full_name() -> None:
    # the same token verifies whichever way the realm is carried: the MAC signs the name
    listed = make_address(FARM, user_id=7, address=RCPT, realm="enwiki", now=NOW)
    named = make_address(PLAIN, user_id=7, address=RCPT, realm="enwiki", now=NOW)
    assert listed.split("-")[0] == named.split(".enwiki")[0]
    # a reference swapped for another listed realm's is a forgery
    swapped = listed.replace(verp.realm_ref("enwiki"), verp.realm_ref("be_x_oldwiki"))
    assert check_address(FARM, swapped, NOW).failure is VerpFailure.BAD_SIGNATURE


def test_a_reference_no_longer_listed_is_an_unknown_realm() -> None:
    address = make_address(FARM, user_id=7, address=RCPT, realm="wikimaniawiki", now=NOW)
    match = check_address(PLAIN, address, NOW)
    assert (match.valid, match.failure) == (False, VerpFailure.UNKNOWN_REALM)


@pytest.mark.parametrize("realm", FARM_REALMS)
def test_every_listed_realm_fits_at_the_extremes(realm: str) -> None:
    """Any listed realm up to 32 characters, user 2**63-1, bound, with a send reference and
    the default prefix: 64 characters exactly, no more (docs/verp.md, the length arithmetic)."""
    address = make_address(
        FARM, user_id=MAX_USER_ID, address=RCPT, realm=realm, message_id="<m1@example.org>",
        now=verp.EPOCH + 36**6 - 1,
    )  # fmt: skip
    local = address.rpartition("@")[0]
    assert len(local) == verp.LOCAL_PART_MAX == 64
    match = check_address(FARM, address, verp.EPOCH + 36**6 - 1)
    assert (match.valid, match.realm, match.user_id) == (True, realm, MAX_USER_ID)
    assert verp.binds(FARM, match, RCPT) is True


def test_an_unlisted_long_realm_still_does_not_fit() -> None:
    with pytest.raises(ValueError, match=r"list the realm in \[verp\] realms"):
        make_address(PLAIN, user_id=MAX_USER_ID, address=RCPT, realm="zh_min_nanwikisource",
                     message_id="<m@x>", now=NOW)  # fmt: skip


def test_realm_names_take_underscores_and_are_case_folded() -> None:
    assert verp.check_realm("ZH_Min_NanWikiSource") == "zh_min_nanwikisource"
    for bad in ("", ".wiki", "wiki.", "a..b", "x" * 33, "en wiki", "wiki#1"):
        with pytest.raises(ValueError, match="realm"):
            verp.check_realm(bad)


def test_colliding_realms_are_one_error_naming_both() -> None:
    assert verp.realm_ref("wiki750812") == verp.realm_ref("wiki812971")  # 40 bits: found by search
    with pytest.raises(verp.RealmCollision, match='"wiki750812" and "wiki812971"'):
        verp.realm_index(("enwiki", "wiki750812", "wiki812971"))


def test_a_dblist_is_read_with_comments() -> None:
    text = "# all wikis\nenwiki\n\n  zh_min_nanwikisource  # Min Nan\nBe_X_OldWiki\n"
    assert verp.parse_realm_list(text) == ["enwiki", "zh_min_nanwikisource", "be_x_oldwiki"]
    with pytest.raises(ValueError, match="line 2"):
        verp.parse_realm_list("enwiki\nen wiki\n")


def _config(tmp_path: Path, verp_lines: str) -> Path:
    path = tmp_path / "reconciler.toml"
    path.write_text(
        f'[verp]\ndomain = "bounces.example.org"\n{verp_lines}\n'
        '[[verp.keys]]\nid = "a"\nsecret = "a secret of at least 16 bytes"\n',
        encoding="utf-8",
    )
    return path


def test_config_reads_realms_and_a_dblist_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "all.dblist").write_text("# farm\nzh_min_nanwikisource\nenwiki\n")
    path = _config(tmp_path, 'realms = ["EnWiki", "dewiki"]\nrealms_file = "all.dblist"')
    settings = load_settings(path, {}).verp
    assert settings is not None
    assert settings.realms == ("enwiki", "dewiki", "zh_min_nanwikisource")
    assert settings.realms_file == tmp_path / "all.dblist"


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        ('realms = ["wiki750812", "enwiki", "wiki812971"]', '"wiki750812" and "wiki812971"'),
        ('realms = ["en wiki"]', "verp.realms"),
        ('realms_file = "missing.dblist"', "does not exist"),
        ('realms_file = "bad.dblist"', r"bad\.dblist, line 3"),
    ],
)
def test_config_refuses_bad_realms(tmp_path: Path, lines: str, problem: str) -> None:
    (tmp_path / "bad.dblist").write_text("enwiki\n# ok\nnot/a/realm\n")
    with pytest.raises(ConfigError, match=problem):
        load_settings(_config(tmp_path, lines), {})


def test_verp_check_prints_the_realms_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, 'realms = ["zh_min_nanwikisource"]')
    make = ["--config", str(path), "verp", "make", "--user", str(MAX_USER_ID), "--address", RCPT,
            "--realm", "zh_min_nanwikisource", "--message-id", "<m1@example.org>",
            "--time", str(NOW)]  # fmt: skip
    assert main(make) == 0
    address = capsys.readouterr().out.strip()
    assert len(address.rpartition("@")[0]) == 64
    assert main(["--config", str(path), "verp", "check", address, "--time", str(NOW)]) == 0
    out = capsys.readouterr().out
    assert "result: valid\n" in out and "realm: zh_min_nanwikisource\n" in out
    assert f"realm_ref: {verp.realm_ref('zh_min_nanwikisource')}\n" in out


def test_check_config_shows_a_farm_in_short(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "all.dblist").write_text("".join(f"wiki{n}\n" for n in range(900)))
    path = _config(tmp_path, 'realms_file = "all.dblist"')
    with path.open("a") as config:
        config.write('[actions.mediawiki]\nurl = "mysql://rc@db1/{realm}"\n'
                     '[actions.mediawiki.wikis]\nenwiki = "mysql://rc@db2/enwiki"\n')  # fmt: skip
    assert main(["--config", str(path), "check-config", "--all"]) == 0
    out = capsys.readouterr().out
    assert "actions.mediawiki.wikis.enwiki = mysql://rc@db2/enwiki\n" in out
    assert "verp.realms = wiki0, wiki1, " in out and ", ... (900 in all)\n" in out

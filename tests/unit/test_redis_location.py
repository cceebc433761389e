"""Redis URLs of every topology: parsed into what redis-py needs, refused with one line, never leaking a password."""

from __future__ import annotations

import pytest

from shared.bus.location import parse_redis_url
from shared.channels import Names
from shared.errors import ConfigError
from shared.settings import redact_url


def test_a_sentinel_url_names_its_sentinels_service_and_database() -> None:
    location = parse_redis_url("redis+sentinel://:s3cret@10.0.0.1:26380,sentinel-b,[::1]:26381/mymaster/2")
    assert location.topology == "sentinel" and not location.tls
    assert location.hosts == (("10.0.0.1", 26380), ("sentinel-b", 26379), ("::1", 26381))
    assert (location.service, location.db) == ("mymaster", 2)
    assert location.options == {"password": "s3cret"}, "the URL's password is the master's (and its replicas')"
    assert location.sentinel_options == {}, "sentinels are asked without credentials unless the query says"


def test_sentinels_with_their_own_password_and_tls_options() -> None:
    location = parse_redis_url(
        "rediss+sentinel://app:pw@s1:26379,s2:26379/cache?sentinel_password=spw&ssl_cert_reqs=none&socket_keepalive=true"
    )
    assert location.tls and location.db == 0
    assert location.options == {
        "username": "app",
        "password": "pw",
        "ssl": True,
        "ssl_cert_reqs": "none",
        "socket_keepalive": True,
    }
    assert location.sentinel_options == {
        "ssl": True,
        "ssl_cert_reqs": "none",
        "socket_keepalive": True,
        "password": "spw",
    }


def test_a_cluster_url_lists_start_nodes() -> None:
    location = parse_redis_url("rediss+cluster://:pw@node-a:7000,node-b,node-c:7002?ssl_ca_certs=/ca.pem")
    assert location.topology == "cluster" and location.tls
    assert location.hosts == (("node-a", 7000), ("node-b", 6379), ("node-c", 7002))
    assert location.options == {"password": "pw", "ssl": True, "ssl_ca_certs": "/ca.pem"}


def test_single_server_urls_are_left_to_redis_py() -> None:
    for url in ("redis://localhost:6379/0", "rediss://:pw@h/1", "unix:///run/redis.sock"):
        location = parse_redis_url(url)
        assert location.topology == "single" and location.url == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://h:1", "must start with redis://, rediss://"),
        ("redis+sentinel://:pw@h1:1,h2:2", "names its service"),
        ("redis+sentinel://:pw@h1:1/svc/x", "database of a Sentinel URL is a number"),
        ("redis+cluster://:pw@h1:1/3", "database 0 only"),
        ("redis+cluster://:pw@h1:1,,h2", "empty host"),
        ("redis+cluster://:pw@h1:99999", "invalid port"),
    ],
)
def test_a_malformed_url_is_one_line_without_the_password(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as raised:
        parse_redis_url(url)
    assert "pw" not in str(raised.value).replace("pwd", "")


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("redis+sentinel://:s3cret@h1:1,h2:2/svc/0", "redis+sentinel://***@h1:1,h2:2/svc/0"),
        ("rediss+cluster://app:s3cret@[::1]:7000,h2:7001", "rediss+cluster://app:***@[::1]:7000,h2:7001"),
        ("redis+sentinel://h1,h2/svc?sentinel_password=s3cret", "redis+sentinel://h1,h2/svc?sentinel_password=***"),
        ("redis://:s3cret@h:6379/0?password=s3cret", "redis://***@h:6379/0?password=***"),
        ("redis+cluster://h1:1,h2:2", "redis+cluster://h1:1,h2:2"),
    ],
)
def test_redaction_keeps_every_host_and_hides_every_password(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted and "s3cret" not in redact_url(url)


def test_names_per_mode_are_the_public_contract() -> None:
    single, cluster = Names("mempool", "mainnet"), Names("mempool", "mainnet", cluster=True)
    assert [single.channel("stats"), single.latest("stats"), single.history("stats"), single.seq, single.leader] == [
        "mempool:mainnet:stats",
        "mempool:mainnet:stats:latest",
        "mempool:mainnet:stats:history",
        "mempool:mainnet:seq",
        "mempool:mainnet:ingestor:leader",
    ]
    assert [cluster.channel("address:bc1q"), cluster.history("stats"), cluster.epoch, cluster.leases] == [
        "mempool:{mainnet}:address:bc1q",
        "mempool:{mainnet}:stats:history",
        "mempool:{mainnet}:epoch",
        "mempool:{mainnet}:leases",
    ]
    assert cluster.topic_of("mempool:{mainnet}:stats") == "stats" and cluster.topic_of("mempool:mainnet:stats") is None

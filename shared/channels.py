"""Every Redis channel and key name, built here and nowhere else.

With the default prefix ``mempool`` and network ``mainnet``, on one server or behind Sentinel (these names
are a public contract):

==============================================  =======  ==============================================
name                                            type     holds
==============================================  =======  ==============================================
``mempool:mainnet:{topic}``                     channel  live events (PUBLISH), one JSON envelope each
``mempool:mainnet:{topic}:latest``              string   the newest envelope of the topic
``mempool:mainnet:{topic}:history``             stream   recent envelopes; entry id ``{event id}-0``,
                                                         fields ``e`` (envelope), ``p`` (previous id)
``mempool:mainnet:seq``                         string   the last event id given out (INCR)
``mempool:mainnet:epoch``                       string   changes when the id sequence starts over
``mempool:mainnet:publish:last``                string   token and ids of the last publish (a retry is not re-applied)
``mempool:mainnet:leases``                      zset     tracking leases, member ``{key}|{holder}``,
                                                         score = expiry (Unix ms); see below
``mempool:mainnet:ingestor:leader``             string   holder id of the active ingestor (PX TTL)
``mempool:mainnet:ingestor:status``             string   JSON :class:`~shared.models.IngestorStatus`
==============================================  =======  ==============================================

On a Redis Cluster the network is a hash tag, so that every name of one network lives in one hash slot
and the publish script (PUBLISH, SET, XADD, INCR, the leader check) stays one atomic step:
``mempool:{mainnet}:stats``, ``mempool:{mainnet}:stats:latest``, ``mempool:{mainnet}:seq``, … The live
channels are then *shard* channels (SPUBLISH; subscribe with SSUBSCRIBE on the node that owns the slot,
e.g. ``redis-cli -c SSUBSCRIBE 'mempool:{mainnet}:stats'``).

``{topic}`` is ``blocks``, ``mempool-blocks``, ``stats``, ``live-2h-chart``, ``address:{address}`` or
``tx:{txid}`` (a tracked transaction, txid in lower-case hex; see :func:`shared.events.tx_topic`).

Leases: one sorted set holds both kinds of tracking lease, told apart by the member's key. An address
lease's key is the address itself; a transaction lease's key is ``tx:{txid}`` (its topic). No address
contains a ``:``, so the two kinds never collide, the lease scripts stay one, and an ingestor that knows
only addresses ignores transaction leases as invalid addresses. :func:`tx_lease_key` builds the key and
:func:`split_lease_keys` sorts what ``leased_addresses`` returns into addresses and txids.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

LEASE_MEMBER_SEPARATOR = "|"
TX_LEASE_PREFIX = "tx:"


@dataclass(frozen=True, slots=True)
class Names:
    """Channel and key names of one network under one prefix (``cluster``: the network as a hash tag)."""

    prefix: str
    network: str
    cluster: bool = False

    @property
    def base(self) -> str:
        """``{prefix}:{network}``, or ``{prefix}:{{network}}`` on a cluster."""
        return f"{self.prefix}:{{{self.network}}}" if self.cluster else f"{self.prefix}:{self.network}"

    def channel(self, topic: str) -> str:
        """The live pub/sub channel of ``topic``."""
        return f"{self.base}:{topic}"

    def latest(self, topic: str) -> str:
        """The key holding the newest envelope of ``topic``."""
        return f"{self.base}:{topic}:latest"

    def history(self, topic: str) -> str:
        """The stream holding the recent envelopes of ``topic``."""
        return f"{self.base}:{topic}:history"

    @property
    def seq(self) -> str:
        """The event id counter of the network."""
        return f"{self.base}:seq"

    @property
    def epoch(self) -> str:
        """The epoch of the network's id sequence."""
        return f"{self.base}:epoch"

    @property
    def last_publish(self) -> str:
        """The token and result of the network's last publish, so a retried publish is not applied twice."""
        return f"{self.base}:publish:last"

    @property
    def leases(self) -> str:
        """The sorted set of address leases."""
        return f"{self.base}:leases"

    @property
    def leader(self) -> str:
        """The ingestor leadership lock."""
        return f"{self.base}:ingestor:leader"

    @property
    def status(self) -> str:
        """The active ingestor's status record."""
        return f"{self.base}:ingestor:status"

    def topic_of(self, channel: str) -> str | None:
        """The topic of one of this network's channels, or None for a foreign channel."""
        head = self.base + ":"
        return channel[len(head) :] if channel.startswith(head) else None


def lease_member(address: str, holder: str) -> str:
    """The lease sorted-set member of ``holder``'s interest in ``address``."""
    return f"{address}{LEASE_MEMBER_SEPARATOR}{holder}"


def lease_address(member: str) -> str:
    """The address part of a lease member."""
    return member.split(LEASE_MEMBER_SEPARATOR, 1)[0]


def tx_lease_key(txid: str) -> str:
    """The lease key of a transaction (64 lower-case hex digits): ``tx:{txid}``."""
    return TX_LEASE_PREFIX + txid


def split_lease_keys(keys: Iterable[str]) -> tuple[set[str], set[str]]:
    """Leased keys sorted into (addresses, txids)."""
    addresses: set[str] = set()
    txids: set[str] = set()
    for key in keys:
        if key.startswith(TX_LEASE_PREFIX):
            txids.add(key[len(TX_LEASE_PREFIX) :])
        else:
            addresses.add(key)
    return addresses, txids

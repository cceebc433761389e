"""The entry point: one raw upstream frame in, a :class:`NormalizedFrame` out, never an exception."""

from __future__ import annotations

from collections.abc import Collection

from ingestor.normalize._coerce import JsonObject, Malformed, to_object
from ingestor.normalize.dispatch import FrameRun
from ingestor.normalize.results import ControlReplies, NormalizedFrame
from ingestor.normalize.stats import StatsState
from ingestor.normalize.txs import TxMemory, tracked_txid
from shared.jsoncodec import loads

_MAX_REASON_CHARS = 200


def _text(raw: object) -> str:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bytes | bytearray | memoryview):
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Malformed(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    raise Malformed(f"expected text or bytes, got {type(raw).__name__}")


def decode_frame(raw: object) -> JsonObject:
    """The frame's top-level JSON object. Raises :class:`~ingestor.normalize._coerce.Malformed`."""
    text = _text(raw)
    try:
        value = loads(text)
    except (ValueError, RecursionError) as exc:
        raise Malformed(f"invalid JSON ({str(exc)[:_MAX_REASON_CHARS]})") from None
    return to_object(value)


def _failed(reason: str) -> NormalizedFrame:
    return NormalizedFrame(
        publications=[],
        new_block=None,
        blocks_snapshot=[],
        control=ControlReplies(),
        keys=[],
        unknown_keys=[],
        ignored_keys=[],
        errors=[reason],
    )


class Normalizer:
    """Turns upstream frames of one network into publications; I/O-free.

    Its only state is the newest readable value of each stats part, merged into every ``stats`` event,
    and per tracked transaction the last effective fee rate and acceleration seen (bounded), carried
    into the ``tx:{txid}`` events that follow.
    """

    def __init__(self, network: str) -> None:
        self.network = network
        self._stats = StatsState()
        self._tx_memory = TxMemory()

    def normalize(
        self,
        raw: str | bytes,
        *,
        received_ms: int,
        tracked: Collection[str] = (),
        tracked_tx: str | None = None,
    ) -> NormalizedFrame:
        """Normalize one frame received at ``received_ms`` (Unix ms); never raises.

        ``tracked`` are the addresses tracked upstream, used to attribute the single-address keys
        (``address-transactions`` and friends), which do not name their address. ``tracked_tx`` is the
        socket's ``track-tx`` txid, the one ``txReplaced``/``rbfTransaction`` (which name only the
        replacing txid) are about.
        """
        try:
            obj = decode_frame(raw)
        except Malformed as exc:
            return _failed(f"frame: {exc}")
        try:
            run = FrameRun(self.network, self._stats, received_ms, tracked, self._tx_memory, tracked_txid(tracked_tx))
            for key, value in obj.items():
                run.feed(key, value)
            return run.finish()
        except Exception as exc:  # last resort: the contract is to never raise
            return _failed(f"frame: internal error: {exc!r}")

"""Live SNMP collection on asyncio: v1/v2c on a lean BER path, v3 on pysnmp 7.

v1/v2c requests are encoded and decoded by :mod:`.ber` over one UDP socket per address
family (pyasn1 decoding would cost more CPU than many agents spend answering); SNMPv3
goes through pysnmp's command generators with raw numeric varbinds (USM, crypto; no
MIB lookups either way).

:class:`SnmpCollector` GETs the system scalars (which also proves the credentials),
then walks the plan's subtrees together: each GETBULK carries one varbind per
unfinished subtree, with ``max-repetitions`` shrunk so that one response stays
under ``max_varbinds``. An agent that returns a non-increasing OID ends that walk
and leaves a warning, instead of looping. At most ``concurrency`` devices are in
flight; each device is bounded by its ``device_timeout_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
import time
from collections.abc import Callable
from typing import Any

from pyasn1.type import univ  # type: ignore[import-untyped]
from pysnmp.entity.rfc3413 import cmdgen
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
)
from pysnmp.hlapi.v3arch.asyncio.cmdgen import LCD
from pysnmp.proto import errind, rfc1902, rfc1905

from netstage.auditor.facts import DeviceFacts, FailureKind, Timings
from netstage.auditor.snmp import ber, oids
from netstage.auditor.snmp.collector import CollectTarget
from netstage.auditor.snmp.credentials import SnmpCredential
from netstage.auditor.snmp.parse import device_facts
from netstage.auditor.snmp.usm import auth_protocol_oid, priv_protocol_oid
from netstage.auditor.snmp.values import Oid, OidTree, Value, oid_str

__all__ = ["SnmpCollector", "classify_error"]

_GET = cmdgen.GetCommandGenerator()
_NEXT = cmdgen.NextCommandGeneratorSingleRun()
_BULK = cmdgen.BulkCommandGeneratorSingleRun()
_NULL = univ.Null("")
_MAX_VALUES_PER_DEVICE = 2_000_000  # a runaway agent cannot keep us walking forever

_FAILURES: list[tuple[type[errind.ErrorIndication], FailureKind, str]] = [
    (errind.RequestTimedOut, FailureKind.timeout,
     "no answer (host down, port closed or filtered, or a wrong v1/v2c community)"),
    (errind.UnknownUserName, FailureKind.unknown_user,
     "the agent does not know this SNMPv3 user; check the user name"),
    (errind.WrongDigest, FailureKind.wrong_auth_key,
     "the agent rejected the authentication digest; check the auth key and protocol"),
    (errind.AuthenticationFailure, FailureKind.wrong_auth_key,
     "authentication failed; check the auth key and protocol"),
    (errind.DecryptionError, FailureKind.wrong_priv_key,
     "the agent could not decrypt the request; check the priv key and protocol"),
    (errind.UnknownEngineID, FailureKind.unknown_engine,
     "engine ID discovery failed; check the agent's engine ID and the user's keys"),
    (errind.NotInTimeWindow, FailureKind.unknown_engine,
     "request not in the agent's time window; retry or check the agent clock/engine"),
    (errind.UnsupportedSecurityLevel, FailureKind.unsupported_security,
     "the agent does not support this security level for this user; check auth/priv"),
    (errind.UnknownCommunityName, FailureKind.unknown_community,
     "the agent rejected the community; check it"),
]


class _DeviceFailed(Exception):
    def __init__(self, kind: FailureKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def classify_error(indication: object) -> tuple[FailureKind, str]:
    """A pysnmp error indication -> (failure kind, human reason without secrets)."""
    for cls, kind, reason in _FAILURES:
        if isinstance(indication, cls):
            return kind, reason
    return FailureKind.other, f"SNMP error: {indication}"


def _value(v: Any) -> Value:
    """pysnmp/pyasn1 value -> neutral :data:`Value` (see :mod:`.values`)."""
    if isinstance(v, rfc1902.IpAddress):
        return ".".join(str(b) for b in v.asOctets())
    if isinstance(v, univ.OctetString):
        return bytes(v.asOctets())
    if isinstance(v, univ.ObjectIdentifier):
        return ".".join(str(p) for p in v)
    if isinstance(v, univ.Integer):
        return int(v)
    return None


def _neutral(v: Any) -> Value | ber.VarBindException:
    """pysnmp value -> the values the fast path decodes (exceptions as markers)."""
    if isinstance(v, rfc1905.EndOfMibView):
        return ber.END_OF_MIB
    if isinstance(v, (rfc1905.NoSuchObject, rfc1905.NoSuchInstance)):
        return ber.NO_SUCH
    return _value(v)


class _CommunityClient(asyncio.DatagramProtocol):
    """SNMPv1/v2c requests over one UDP socket, encoded/decoded by :mod:`.ber`.

    Responses are matched on request-id and peer address; anything else (late answers
    to a retried request, garbage) is dropped. Each retry uses a new request-id.
    """

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[int, tuple[asyncio.Future[ber.Response], tuple[str, int]]] = {}
        # peer -> summary of the first packet from it that was not a readable response
        self.undecodable: dict[tuple[str, int], str] = {}
        self._next_id = random.randrange(1, 1 << 30)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            response = ber.decode_response(data)
        except ber.BerError as exc:
            peer = (addr[0], addr[1])
            if len(self.undecodable) < 10_000:  # bounded, whatever a network sends us
                self.undecodable.setdefault(peer, ber.summary(data, exc, peer))
            return
        entry = self.pending.get(response.request_id)
        if entry is not None and entry[1] == (addr[0], addr[1]) and not entry[0].done():
            entry[0].set_result(response)

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable etc.: wait it out
        pass

    async def request(self, target: CollectTarget, version: int, community: bytes, pdu: int,
                      keys: list[Oid] | tuple[Oid, ...], reps: int = 0) -> ber.Response:
        return await self.exchange(
            target, lambda rid: ber.encode_request(version, community, pdu, rid, keys, 0, reps))

    async def exchange(self, target: CollectTarget,
                       encode: Callable[[int], bytes]) -> ber.Response:
        """Send ``encode(request_id)`` with ``target``'s timeout and retries; the answer."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        peer = (target.address, target.port)
        for _attempt in range(target.retries + 1):
            self._next_id = self._next_id % 0x7FFFFFFF + 1
            rid = self._next_id
            future: asyncio.Future[ber.Response] = loop.create_future()
            self.pending[rid] = (future, peer)
            try:
                self.transport.sendto(encode(rid), peer)
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows an outer
                # cancellation (the device limit) when the answer arrives in the same
                # loop step, and the walk then runs on past device_timeout_s.
                async with asyncio.timeout(target.timeout_s):
                    return await future
            except TimeoutError:
                continue
            finally:
                self.pending.pop(rid, None)
        bad = self.undecodable.get(peer)
        if bad is not None:  # it did answer, but not with SNMP we can read
            raise _DeviceFailed(FailureKind.protocol_error, _protocol_reason(bad, peer[1]))
        raise _DeviceFailed(*classify_error(errind.RequestTimedOut()))


def _protocol_reason(first_bad: str, port: int) -> str:
    return (f"the agent answered, but not with an SNMP response netstage can decode (first "
            f"bad packet: {first_bad}); check that port {port} is an SNMP agent and its "
            "SNMP version, or report the agent's firmware")


class _CommunitySession:
    """One v1/v2c device on the fast path; same interface as :class:`_Session`."""

    def __init__(self, client: _CommunityClient, target: CollectTarget) -> None:
        self.client = client
        self.target = target
        cred = target.credential
        self.community = cred.community.reveal().encode("utf-8") if cred.community else b""
        self.version = 0 if cred.version == "v1" else 1
        self.v1 = self.version == 0
        self.n_requests = 0

    async def get(self, keys: tuple[Oid, ...]) -> tuple[int, list[tuple[Oid, Any]]]:
        self.n_requests += 1
        r = await self.client.request(self.target, self.version, self.community, ber.GET, keys)
        return r.error_status, r.varbinds

    async def bulk(self, starts: list[Oid],
                   reps: int) -> tuple[int, int, list[tuple[Oid, Any]]]:
        self.n_requests += 1
        pdu = ber.GETNEXT if self.v1 else ber.GETBULK
        r = await self.client.request(self.target, self.version, self.community, pdu, starts,
                                      0 if self.v1 else reps)
        return r.error_status, r.error_index, r.varbinds


def _auth_data(cred: SnmpCredential) -> CommunityData | UsmUserData:
    if cred.version in ("v1", "v2c"):
        community = cred.community.reveal() if cred.community else ""
        return CommunityData(community, mpModel=0 if cred.version == "v1" else 1)
    return UsmUserData(
        cred.user or "",
        authKey=cred.auth_key.reveal() if cred.auth_key else None,
        privKey=cred.priv_key.reveal() if cred.priv_key else None,
        authProtocol=auth_protocol_oid(cred.auth_protocol),
        privProtocol=priv_protocol_oid(cred.priv_protocol),
    )


def _engine_key(cred: SnmpCredential) -> tuple[object, ...]:
    """Which engine a credential may share: pysnmp keeps one USM entry per user name in an
    engine and replaces it when the keys differ, so v3 credentials that differ in any way
    get their own engine (v1/v2c share one). The key holds :class:`Secret` objects, which
    compare by value but never print it."""
    if cred.version != "v3":
        return ("community",)
    return ("usm", cred.user, cred.auth_protocol, cred.auth_key, cred.priv_protocol,
            cred.priv_key)


class _Session:
    """One device's engine/auth/transport/context plus request and value counts."""

    def __init__(self, engine: SnmpEngine, target: CollectTarget, transport: Any,
                 auth: CommunityData | UsmUserData | None = None) -> None:
        self.engine = engine
        self.auth = auth if auth is not None else _auth_data(target.credential)
        self.transport = transport
        self.context = (ContextData(contextName=target.credential.context)
                        if target.credential.context else ContextData())
        self.v1 = target.credential.version == "v1"
        self.n_requests = 0

    async def _send(self, generator: Any, keys: list[Oid] | tuple[Oid, ...],
                    *bulk: int) -> tuple[int, int, list[tuple[Oid, Any]]]:
        """One request with raw numeric varbinds (no MIB resolution at all: pysnmp's
        high-level API would resolve every OID through a MIB view per engine)."""
        self.n_requests += 1
        addr_name, _ = LCD.configure(self.engine, self.auth, self.transport,
                                     self.context.contextName)
        future: asyncio.Future[tuple[Any, Any, Any, Any]] = \
            asyncio.get_running_loop().create_future()

        def done(_engine: Any, _handle: Any, indication: Any, status: Any, index: Any,
                 var_binds: Any, _ctx: Any) -> None:
            if not future.done():
                future.set_result((indication, status, index, var_binds))

        var_binds = [(rfc1902.ObjectName(k), _NULL) for k in keys]
        generator.send_varbinds(self.engine, addr_name, self.context.contextEngineId,
                                self.context.contextName, *bulk, var_binds, done, None)
        ei, es, ex, vbs = await future
        if ei:
            raise _DeviceFailed(*classify_error(ei))
        return int(es or 0), int(ex or 0), [(tuple(vb[0]), _neutral(vb[1])) for vb in vbs]

    async def get(self, keys: tuple[Oid, ...]) -> tuple[int, list[tuple[Oid, Any]]]:
        status, _, vbs = await self._send(_GET, keys)
        return status, vbs

    async def bulk(self, starts: list[Oid],
                   reps: int) -> tuple[int, int, list[tuple[Oid, Any]]]:
        """GETBULK (v2c/v3) or, for SNMPv1, one GETNEXT: (error-status, error-index, vbs)."""
        if self.v1:
            return await self._send(_NEXT, starts)
        return await self._send(_BULK, starts, 0, reps)


async def _get_system(s: _Session | _CommunitySession, tree: OidTree) -> None:
    status, vbs = await s.get(oids.SYSTEM_SCALARS)
    if status:  # SNMPv1 fails the whole GET for one missing object: ask one by one
        vbs = []
        for key in oids.SYSTEM_SCALARS:
            st, one = await s.get((key,))
            vbs.extend(one if not st else [])
    tree.update((k, v) for k, v in vbs if not isinstance(v, ber.VarBindException))


async def _walk(s: _Session | _CommunitySession, roots: tuple[Oid, ...], max_rep: int,
                max_varbinds: int, tree: OidTree, warnings: list[str]) -> None:
    """Walk every subtree in ``roots`` together; results go into ``tree``.

    One request carries one varbind per unfinished subtree (at most ``max_roots`` of
    them) and as many repetitions as fit in ``max_varbinds``. On tooBig the
    repetitions halve first, then the subtrees are split into smaller batches; a
    single subtree still too big at one repetition is skipped with a warning.
    """
    last: dict[Oid, Oid] = {r: r for r in roots}
    active = list(roots)
    # never more varbinds in one request than max_varbinds, even at one repetition
    # (snmpsim drops a 65-varbind GETBULK without an answer)
    max_roots = max(1, min(len(active), max_varbinds))
    got: list[tuple[Oid, Value]] = []
    while active:
        batch = active[:max_roots]
        reps = max(1, min(max_rep, max_varbinds // len(batch)))
        status, index, vbs = await s.bulk([last[r] for r in batch], reps)
        if status == 1:  # tooBig: ask for less
            if reps > 1:
                max_varbinds = max(len(batch), len(batch) * reps // 2)
                max_rep = max(1, reps // 2)
            elif len(batch) > 1:
                max_roots = max(1, len(batch) // 2)
            else:
                warnings.append(f"walk of {oid_str(batch[0])} skipped: the agent answers "
                                "tooBig even for one value")
                active.remove(batch[0])
            continue
        if status == 2 and 1 <= index <= len(batch):
            # SNMPv1 noSuchName: that varbind ran off the end of the MIB (or hit a
            # Counter64 a v1 agent cannot send); the whole PDU failed, so drop that
            # subtree and ask again for the others.
            active.remove(batch[index - 1])
            continue
        if status:  # a genuine error
            warnings.append(f"walk stopped: error-status {status} at "
                            f"{', '.join(oid_str(last[r]) for r in batch)}")
            break
        n = len(batch)
        done: set[Oid] = set()
        progressed: set[Oid] = set()
        for i, (key, value) in enumerate(vbs):
            root = batch[i % n]
            if root in done:
                continue
            if value is ber.END_OF_MIB or key[:len(root)] != root:
                done.add(root)
                continue
            if key <= last[root]:
                warnings.append(f"non-increasing OID {oid_str(key)} after "
                                f"{oid_str(last[root])}; walk of {oid_str(root)} stopped")
                done.add(root)
                continue
            last[root] = key
            progressed.add(root)
            got.append((key, None if isinstance(value, ber.VarBindException) else value))
        # a subtree with no progress in a whole response would loop forever: end it
        in_batch = set(batch)
        active = [r for r in active
                  if r not in done and (r not in in_batch or r in progressed)]
        if len(got) > _MAX_VALUES_PER_DEVICE:
            warnings.append(f"more than {_MAX_VALUES_PER_DEVICE} values; walk truncated")
            break
    tree.update(got)


class SnmpCollector:
    """The live :class:`~netstage.auditor.snmp.collector.Collector` (asyncio).

    ``concurrency`` bounds the devices in flight; ``max_varbinds`` bounds the
    varbinds asked for in one GETBULK (all subtrees together). v1/v2c devices share
    one UDP socket per address family (:class:`_CommunityClient`); each distinct v3
    credential gets its own pysnmp engine (see :func:`_engine_key`). Sockets and
    engines belong to the running event loop; :meth:`close` releases them.
    """

    def __init__(self, *, concurrency: int = 32, max_varbinds: int = 64) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.concurrency = concurrency
        self.max_varbinds = max(1, max_varbinds)
        self._engines: dict[tuple[object, ...], SnmpEngine] = {}
        self._clients: dict[int, _CommunityClient] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sem: asyncio.Semaphore | None = None

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new asyncio.run(): old engines are unusable
            self._engines.clear()
            self._clients.clear()
            self._loop = loop
            self._sem = asyncio.Semaphore(self.concurrency)

    def _engine(self, cred: SnmpCredential) -> SnmpEngine:
        key = _engine_key(cred)
        engine = self._engines.get(key)
        if engine is None:
            engine = self._engines[key] = SnmpEngine()
        return engine

    async def _client(self, address: str) -> _CommunityClient:
        """The v1/v2c socket for ``address``'s family (one per family, shared)."""
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 \
            else socket.AF_INET
        client = self._clients.get(family)
        if client is None:
            loop = asyncio.get_running_loop()
            local = ("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0)
            _, client = await loop.create_datagram_endpoint(_CommunityClient,
                                                            local_addr=local, family=family)
            self._clients[family] = client
        return client

    def close(self) -> None:
        """Close every engine's and socket (call at the end of an audit; safe to repeat)."""
        for engine in self._engines.values():
            with contextlib.suppress(Exception):  # closing is best effort
                engine.close_dispatcher()
        self._engines.clear()
        for client in self._clients.values():
            if client.transport is not None:
                client.transport.close()
        self._clients.clear()

    async def collect(self, target: CollectTarget) -> DeviceFacts:
        """Facts of ``target`` or a failed :class:`DeviceFacts` (never raises for it)."""
        self._bind_loop()
        assert self._sem is not None
        cred = target.credential
        meta: dict[str, Any] = {"credential_profile": cred.profile, "snmp_version": cred.version,
                                "security_level": cred.security_level}
        async with self._sem:
            started = time.perf_counter()
            timings = Timings()
            tree = OidTree()
            warnings: list[str] = []
            session: _Session | _CommunitySession | None = None
            try:
                async with asyncio.timeout(target.device_timeout_s):
                    if cred.version != "v3":
                        session = _CommunitySession(await self._client(target.address),
                                                    target)
                        await _get_system(session, tree)
                    else:
                        transport = await UdpTransportTarget.create(
                            (target.address, target.port), timeout=target.timeout_s,
                            retries=target.retries)
                        session = _Session(self._engine(cred), target, transport)
                        try:
                            await _get_system(session, tree)
                        except _DeviceFailed as exc:
                            if exc.kind is FailureKind.timeout and \
                                    cred.security_level == "authPriv":
                                await _diagnose_priv(target, transport, exc)
                            raise
                    await _walk(session, target.plan, target.max_repetitions,
                                self.max_varbinds, tree, warnings)
            except _DeviceFailed as exc:
                return self._failed(target, exc.kind, exc.reason, started, timings, meta,
                                    session)
            except TimeoutError:
                return self._failed(target, FailureKind.timeout,
                                    f"device audit exceeded its {target.device_timeout_s:g} s "
                                    "limit (device_timeout_s); raise it or lower "
                                    "max_repetitions", started, timings, meta, session)
            except OSError as exc:
                return self._failed(target, FailureKind.other, f"transport error: {exc}",
                                    started, timings, meta, session)
            timings.elapsed_s = time.perf_counter() - started
            timings.n_requests = session.n_requests if session else 0
            timings.n_values = len(tree)
            return device_facts(tree, target.snmp_target, warnings=warnings, timings=timings,
                                **meta)

    async def check_write_community(self, target: CollectTarget, community: str) -> str:
        """The opt-in write test of one community on one device (see :mod:`.write_check`):
        GET sysLocation.0, then SET it to the very value read; one attempt each."""
        from netstage.auditor.snmp.write_check import noop_set_syslocation

        self._bind_loop()
        assert self._sem is not None
        async with self._sem:
            client = await self._client(target.address)
            return await noop_set_syslocation(client, target, community)

    @staticmethod
    def _failed(target: CollectTarget, kind: FailureKind, reason: str, started: float,
                timings: Timings, meta: dict[str, Any],
                session: _Session | _CommunitySession | None) -> DeviceFacts:
        timings.elapsed_s = time.perf_counter() - started
        timings.n_requests = session.n_requests if session else 0
        return DeviceFacts.failed(target.snmp_target, kind, reason, timings=timings, **meta)


async def _diagnose_priv(target: CollectTarget, transport: Any, exc: _DeviceFailed) -> None:
    """After an authPriv timeout: does the agent answer the same user at authNoPriv?

    net-snmp silently drops a request it cannot decrypt, so a wrong priv key looks like
    a dead host. An authenticated answer without privacy (even an access error) proves
    the host, the user and the auth key are fine, so the priv key or protocol is wrong.
    Uses a throw-away engine: the main engine must keep the user's real keys.
    """
    cred = target.credential
    probe = UsmUserData(
        cred.user or "",
        authKey=cred.auth_key.reveal() if cred.auth_key else None,
        authProtocol=auth_protocol_oid(cred.auth_protocol),
    )
    engine = SnmpEngine()
    try:
        session = _Session(engine, target, transport, auth=probe)
        await session.get((oids.SYS_UPTIME,))
    except _DeviceFailed:
        return  # no authenticated answer either: leave it a timeout
    finally:
        engine.close_dispatcher()
    exc.kind = FailureKind.wrong_priv_key
    exc.reason = ("the agent answers this user with authentication but not with privacy: "
                  "check the priv key and priv protocol (the agent drops requests it "
                  "cannot decrypt)")

"""The audit inventory: which agents to query, with which credentials, how patiently.

An inventory is a YAML file (``extra="forbid"``: a misspelt key is an error with its
line)::

    concurrency: 32                  # devices in flight at once
    defaults: {timeout_s: 2, retries: 1, device_timeout_s: 120, max_repetitions: 25}
    credentials:
      campus-v3:
        version: v3
        user: netstage
        auth_protocol: sha256        # none md5 sha sha224 sha256 sha384 sha512
        auth_key: env:NETSTAGE_AUTH  # secrets are only ever env:VAR references
        priv_protocol: aes128        # none des 3des aes128 aes192 aes256 aes192-cisco aes256-cisco
        priv_key: env:NETSTAGE_PRIV
      legacy:
        version: v2c
        community: env:NETSTAGE_COMMUNITY
      core:
        version: v2c
        community: file:/etc/netstage/secrets.yaml#core-community
    targets:
      - {name: core-1, address: 10.0.0.1, credentials: campus-v3}
      - {range: 10.1.0.0/28, credentials: [campus-v3, legacy], timeout_s: 1}
      - {range: 10.2.0.10-10.2.0.20, credentials: legacy}
    discovery:                       # optional: seeds for `netstage discover`
      seeds: [10.0.0.1]
      credentials: [campus-v3]
      allowed_networks: [10.0.0.0/8]
      max_devices: 200
      max_hops: 4
    default_community_check: false   # opt-in: also try public/private on each target
    write_community_check: false     # opt-in WRITE attempt: no-op SET of sysLocation.0
                                     # with private/public (docs/snmp-audit.md)

``credentials`` of a target is one profile or a list tried in order until one
answers. Addresses are literal IPv4/IPv6 addresses (no DNS lookups during an audit).
``aes192``/``aes256`` localise keys as draft-blumenthal-aes-usm (net-snmp
AES-192/AES-256); ``aes192-cisco``/``aes256-cisco`` use the Reeder key extension
that Cisco and others ship. Secrets are read from the environment only when the
audit runs (:meth:`Inventory.resolve_credential`); they are never stored, printed or
written anywhere.

A secret may also be ``file:PATH#NAME``: entry ``NAME`` of the secrets file ``PATH``
(relative paths are relative to the inventory), a YAML mapping of names to secrets::

    core-community: 'x7-not-public'
    lab-community: 'another one'

so a large inventory needs one secret file instead of one environment variable per
community. The file must be a regular file that neither group nor others can read or
write (``chmod 600``); otherwise it is refused before anything is sent.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from netstage.auditor.snmp.credentials import Secret, SnmpCredential
from netstage.simulator.errors import ConfigError
from netstage.simulator.io import LineMap, load_model

__all__ = [
    "MAX_RANGE_ADDRESSES",
    "CredentialProfile",
    "Defaults",
    "Discovery",
    "Inventory",
    "ResolvedTarget",
    "Target",
    "load_inventory",
    "read_secrets_file",
]

MAX_RANGE_ADDRESSES = 65536  # one range may not expand to more addresses than this
_ENV_PREFIX = "env:"
_FILE_PREFIX = "file:"
MAX_SECRETS_FILE_BYTES = 1024 * 1024  # a map of names to secrets, not a data set

AuthName = Literal["none", "md5", "sha", "sha224", "sha256", "sha384", "sha512"]
PrivName = Literal["none", "des", "3des", "aes128", "aes192", "aes256",
                   "aes192-cisco", "aes256-cisco"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_secret_ref(value: str | None) -> str | None:
    """Accept only ``env:NAME`` or ``file:PATH#NAME``; never echo the given text (it may
    be a real secret)."""
    if value is None:
        return None
    if value.startswith(_FILE_PREFIX):
        path, sep, key = value[len(_FILE_PREFIX):].rpartition("#")
        if not sep or not path.strip() or not key.strip():
            raise ValueError("a secrets-file reference is file:PATH#NAME, e.g. "
                             "file:/etc/netstage/secrets.yaml#core-community")
        return value
    name = value[len(_ENV_PREFIX):] if value.startswith(_ENV_PREFIX) else ""
    if not name or not (name[0].isalpha() or name[0] == "_") or \
            not all(c.isalnum() or c == "_" for c in name):
        raise ValueError("secrets must be environment references like env:NETSTAGE_AUTH_KEY "
                         "or secrets-file references like file:/etc/netstage/secrets.yaml#NAME "
                         "(put the value there; the inventory never holds secrets)")
    return value


SecretRef = Annotated[str, Field(description="env:VAR or file:PATH#NAME reference to a "
                                             "secret")]


class CredentialProfile(_Model):
    """One way to authenticate: v1/v2c community or a v3 USM user."""

    version: Literal["v1", "v2c", "v3"] = "v2c"
    community: SecretRef | None = None
    user: str | None = None
    auth_protocol: AuthName = "none"
    auth_key: SecretRef | None = None
    priv_protocol: PrivName = "none"
    priv_key: SecretRef | None = None
    context: str = ""  # v3 context name (snmpsim: the recording; Cisco: vlan-N)

    @field_validator("community", "auth_key", "priv_key")
    @classmethod
    def _secret_refs(cls, v: str | None) -> str | None:
        return _check_secret_ref(v)

    @model_validator(mode="after")
    def _consistent(self) -> CredentialProfile:
        if self.version in ("v1", "v2c"):
            if self.community is None:
                raise ValueError(f"{self.version} needs community: env:VAR")
            if self.user or self.auth_key or self.priv_key or self.auth_protocol != "none" \
                    or self.priv_protocol != "none":
                raise ValueError(f"{self.version} takes only a community; user/auth/priv are "
                                 "SNMPv3 settings (set version: v3)")
            return self
        if self.community is not None:
            raise ValueError("v3 uses user/auth/priv, not community")
        if not self.user:
            raise ValueError("v3 needs user")
        if (self.auth_protocol == "none") != (self.auth_key is None):
            raise ValueError("auth_protocol and auth_key go together (both set or neither)")
        if (self.priv_protocol == "none") != (self.priv_key is None):
            raise ValueError("priv_protocol and priv_key go together (both set or neither)")
        if self.priv_protocol != "none" and self.auth_protocol == "none":
            raise ValueError("privacy needs authentication: set auth_protocol and auth_key")
        return self


class Defaults(_Model):
    """Per-target limits unless a target overrides them."""

    port: int = Field(161, ge=1, le=65535)
    timeout_s: float = Field(2.0, gt=0, le=60)  # per request
    retries: int = Field(1, ge=0, le=10)
    device_timeout_s: float = Field(120.0, gt=0, le=3600)  # the whole device
    max_repetitions: int = Field(25, ge=1, le=200)


class Target(_Model):
    """One address (``address``) or many (``range``: CIDR or ``first-last``)."""

    name: str | None = None
    address: str | None = None
    range: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    credentials: str | list[str]
    timeout_s: float | None = Field(None, gt=0, le=60)
    retries: int | None = Field(None, ge=0, le=10)
    device_timeout_s: float | None = Field(None, gt=0, le=3600)
    max_repetitions: int | None = Field(None, ge=1, le=200)

    @field_validator("address")
    @classmethod
    def _literal(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            return str(ipaddress.ip_address(v.strip()))
        except ValueError:
            raise ValueError(f"{v!r} is not an IPv4/IPv6 address (names are not resolved; "
                             "give the management address)") from None

    @field_validator("range")
    @classmethod
    def _range(cls, v: str | None) -> str | None:
        if v is not None:
            _expand_range(v)  # raises ValueError with the reason
        return v

    @model_validator(mode="after")
    def _one_of(self) -> Target:
        if (self.address is None) == (self.range is None):
            raise ValueError("give exactly one of address or range")
        if self.range is not None and self.name is not None:
            raise ValueError("name is for a single address; a range's devices are named "
                             "by address")
        return self

    @property
    def profiles(self) -> list[str]:
        return [self.credentials] if isinstance(self.credentials, str) else list(self.credentials)


class Discovery(_Model):
    """Seeds and bounds for neighbour-following discovery (``netstage discover``)."""

    seeds: list[str] = Field(default_factory=list)
    credentials: list[str] = Field(default_factory=list)
    allowed_networks: list[str] = Field(default_factory=list)  # empty: the seeds' /24s
    max_devices: int = Field(200, ge=1, le=10000)
    max_hops: int = Field(4, ge=0, le=32)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[str]) -> list[str]:
        out = []
        for s in v:
            try:
                out.append(str(ipaddress.ip_address(s.strip())))
            except ValueError:
                raise ValueError(f"seed {s!r} is not an IPv4/IPv6 address") from None
        return out

    @field_validator("allowed_networks")
    @classmethod
    def _nets(cls, v: list[str]) -> list[str]:
        for n in v:
            try:
                ipaddress.ip_network(n, strict=False)
            except ValueError:
                raise ValueError(f"{n!r} is not a network like 10.0.0.0/8") from None
        return v


@dataclass(frozen=True)
class ResolvedTarget:
    """One concrete device to audit, before its credentials are read from the env."""

    address: str
    port: int
    name: str | None
    profiles: tuple[str, ...]
    timeout_s: float
    retries: int
    device_timeout_s: float
    max_repetitions: int
    line: int | None = None  # inventory line of the target entry


def _expand_range(text: str) -> list[str]:
    """``10.0.0.0/30`` (hosts only when the prefix leaves any) or ``10.0.0.5-10.0.0.9``."""
    t = text.strip()
    if "-" in t and "/" not in t:
        a, _, b = t.partition("-")
        try:
            first, last = ipaddress.ip_address(a.strip()), ipaddress.ip_address(b.strip())
        except ValueError:
            raise ValueError(f"range {text!r}: expected FIRST-LAST addresses") from None
        if first.version != last.version or int(last) < int(first):
            raise ValueError(f"range {text!r}: LAST must be >= FIRST and of the same family")
        n = int(last) - int(first) + 1
        if n > MAX_RANGE_ADDRESSES:
            raise ValueError(f"range {text!r} has {n} addresses; at most "
                             f"{MAX_RANGE_ADDRESSES} per range (split it)")
        return [str(ipaddress.ip_address(int(first) + i)) for i in range(n)]
    try:
        net = ipaddress.ip_network(t, strict=False)
    except ValueError:
        raise ValueError(f"range {text!r}: expected CIDR (10.0.0.0/24) or FIRST-LAST") from None
    if net.num_addresses > MAX_RANGE_ADDRESSES:
        raise ValueError(f"range {text!r} has {net.num_addresses} addresses; at most "
                         f"{MAX_RANGE_ADDRESSES} per range (split it)")
    hosts = list(net.hosts())
    return [str(h) for h in (hosts or [net.network_address])]


class Inventory(_Model):
    """A whole inventory file; see the module docstring for the format."""

    concurrency: int = Field(32, ge=1, le=1024)
    defaults: Defaults = Field(default_factory=Defaults)
    credentials: dict[str, CredentialProfile]
    targets: list[Target] = Field(default_factory=list)
    discovery: Discovery | None = None
    default_community_check: bool = False
    default_communities: list[str] = Field(default_factory=lambda: ["public", "private"])
    write_community_check: bool = False

    _source: str | None = PrivateAttr(default=None)
    _lines: LineMap | None = PrivateAttr(default=None)
    # secrets files read during this run: path -> {name: secret} (never written out)
    _secret_files: dict[str, dict[str, Secret]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _profiles_exist(self) -> Inventory:
        known = set(self.credentials)
        for n, t in enumerate(self.targets):
            missing = [p for p in t.profiles if p not in known]
            if missing or not t.profiles:
                raise ValueError(f"targets[{n}] uses unknown credential profile(s) "
                                 f"{', '.join(missing) or '(none given)'}; known: "
                                 f"{', '.join(sorted(known)) or '(none)'}")
        if self.discovery:
            missing = [p for p in self.discovery.credentials if p not in known]
            if missing:
                raise ValueError(f"discovery uses unknown credential profile(s) "
                                 f"{', '.join(missing)}")
        return self

    @property
    def source(self) -> str | None:
        """Path of the file this inventory was loaded from (None when built in code)."""
        return self._source

    def where(self, *loc: str | int) -> str:
        """``file:line`` of an inventory item (for located messages)."""
        if self._lines is None:
            return self._source or "inventory"
        return self._lines.where(loc)

    def iter_targets(self) -> Iterator[ResolvedTarget]:
        """Every concrete device, ranges expanded, exact duplicates dropped.

        A duplicate is the same address, port and credential profiles: one agent may
        serve several devices told apart by community or v3 context (snmpsim, Cisco
        per-VLAN contexts), so the same address:port with other profiles is kept.
        """
        seen: set[tuple[str, int, tuple[str, ...]]] = set()
        d = self.defaults
        for n, t in enumerate(self.targets):
            addresses = [t.address] if t.address else _expand_range(t.range or "")
            line = self._lines.line(("targets", n)) if self._lines else None
            port = t.port or d.port
            for addr in addresses:
                key = (addr, port, tuple(t.profiles))
                if key in seen:
                    continue
                seen.add(key)
                yield ResolvedTarget(
                    address=addr, port=port, name=t.name, profiles=tuple(t.profiles),
                    timeout_s=t.timeout_s or d.timeout_s,
                    retries=t.retries if t.retries is not None else d.retries,
                    device_timeout_s=t.device_timeout_s or d.device_timeout_s,
                    max_repetitions=t.max_repetitions or d.max_repetitions, line=line)

    def resolve_credential(self, profile: str) -> SnmpCredential:
        """The profile with its ``env:`` secrets read now; a missing variable is a
        :class:`ConfigError` naming the variable and where the profile is."""
        p = self.credentials.get(profile)
        if p is None:
            raise ConfigError(f"{self.where('credentials')}: no credential profile "
                              f"'{profile}'")

        def secret(field: str, ref: str | None) -> Secret | None:
            if ref is None:
                return None
            if ref.startswith(_FILE_PREFIX):
                return self._file_secret(ref, self.where("credentials", profile, field),
                                         f"credentials.{profile}.{field}")
            var = ref[len(_ENV_PREFIX):]
            value = os.environ.get(var)
            if value is None or value == "":
                raise ConfigError(
                    f"{self.where('credentials', profile, field)}: credentials.{profile}."
                    f"{field} refers to environment variable {var}, which is not set; "
                    f"export {var}=... before running the audit")
            return Secret(value)

        return SnmpCredential(
            profile=profile, version=p.version,
            community=secret("community", p.community), user=p.user,
            auth_protocol=p.auth_protocol, auth_key=secret("auth_key", p.auth_key),
            priv_protocol=p.priv_protocol, priv_key=secret("priv_key", p.priv_key),
            context=p.context)


    def _file_secret(self, ref: str, where: str, what: str) -> Secret:
        """Entry NAME of the secrets file of ``file:PATH#NAME`` (file read once per run)."""
        raw_path, _, key = ref[len(_FILE_PREFIX):].rpartition("#")
        path = Path(raw_path).expanduser()
        if not path.is_absolute() and self._source:
            path = Path(self._source).parent / path
        table = self._secret_files.get(str(path))
        if table is None:
            table = self._secret_files[str(path)] = read_secrets_file(path, where, what)
        found = table.get(key)
        if found is None:
            raise ConfigError(f"{where}: {what} refers to entry '{key}' of secrets file "
                              f"{path}, which has no such entry; add '{key}: ...' there "
                              f"(it has {len(table)} entr{'y' if len(table) == 1 else 'ies'})")
        return found


def read_secrets_file(path: Path, where: str, what: str) -> dict[str, Secret]:
    """A secrets file: a YAML mapping of names to secrets, readable by its owner only.

    Errors name the file, the line and the entry, never a value.
    """
    import stat

    from netstage.simulator.io import load_yaml_located

    pre = f"{where}: {what}: secrets file {path}"
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"{pre} does not exist; create it (a YAML mapping 'name: secret') "
                          f"with chmod 600, or fix the path") from None
    except OSError as exc:
        raise ConfigError(f"{pre} cannot be read ({exc.strerror or exc}); check the path "
                          "and its permissions") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{pre} is not a regular file; give the path of a YAML file")
    if st.st_mode & 0o066:
        raise ConfigError(f"{pre} can be read or written by group or others (mode "
                          f"{stat.S_IMODE(st.st_mode):04o}); restrict it: chmod 600 {path}")
    if st.st_size > MAX_SECRETS_FILE_BYTES:
        raise ConfigError(f"{pre} is {st.st_size:,} bytes, too large for a map of names to "
                          "secrets; check the path")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{pre} cannot be read ({why}); check the file") from None
    try:
        data, lines = load_yaml_located(text, str(path))
    except ConfigError as exc:
        # the parser's message may quote the file's text: keep only file:line
        at = str(exc).split(": ", 1)[0]
        raise ConfigError(f"{pre}: not valid YAML near {at}; write one 'name: secret' "
                          "per line (quote secrets with special characters)") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{pre}: expected a mapping of names to secrets ('name: secret' "
                          "lines)")
    out: dict[str, Secret] = {}
    for name, value in data.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigError(f"{lines.where((str(name),))}: entry '{name}' of secrets file "
                              "must be text; quote the secret ('...')")
        text_value = value if isinstance(value, str) else lines.text((str(name),))
        if not text_value:
            raise ConfigError(f"{lines.where((str(name),))}: entry '{name}' of secrets file "
                              "is empty; write the secret there")
        out[str(name)] = Secret(text_value)
    return out


def load_inventory(path: str | Path) -> Inventory:
    """Read and validate an inventory YAML file (errors name file:line and field)."""
    inv, lines = load_model(path, Inventory, what=f"inventory {path}")
    inv._source = str(path)
    inv._lines = lines
    return inv

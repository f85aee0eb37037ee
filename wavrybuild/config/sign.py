"""[sign]: which methods sign, and each method's keys — the model and its parser in one place.

Every method has its own frozen dataclass with typed fields: key files are paths resolved against
targets.toml's directory when it loads, identities and descriptions are `Line`s (they go into the
signing tools' argv), URLs are `HttpUrl`s, and `*-env` fields are the *names* of the variables that
hold the secrets (never the secrets). WAVRYBUILD_SIGN_METHODS and WAVRYBUILD_<METHOD>_<KEY> (e.g.
WAVRYBUILD_GPG_KEY) are applied here, at the boundary, into the same model: nothing after load
knows where a value came from.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..env import Settings
from ..errors import ConfigError, suggest
from . import checks as c
from .values import HttpUrl, Line


@dataclass(frozen=True)
class GpgSigning:
    key: Line | None = None  # key id, fingerprint or e-mail (gpg --local-user)
    homedir: Path | None = None  # GNUPGHOME for signing; None: gpg's own
    public_key: Path | None = None  # what `invoke verify` imports into a throwaway keyring
    passphrase_env: str = "WAVRYBUILD_GPG_PASSPHRASE"


@dataclass(frozen=True)
class MinisignSigning:
    key: Path | None = None
    public_key: Path | None = None
    passphrase_env: str = "WAVRYBUILD_MINISIGN_PASSPHRASE"


SSH_NAMESPACE = Line("file")  # what ssh-keygen -Y sign -n calls a signature over a file


@dataclass(frozen=True)
class SshSigning:
    key: Path | None = None
    allowed_signers: Path | None = None  # ssh-keygen -Y verify -f
    identity: Line | None = None  # the principal in allowed-signers
    namespace: Line = SSH_NAMESPACE


@dataclass(frozen=True)
class AuthenticodeSigning:
    pkcs12: Path | None = None
    password_env: str = "WAVRYBUILD_AUTHENTICODE_PASSWORD"
    ca: Path | None = None  # the CA `invoke verify` checks signatures against
    description: Line | None = None  # None: the project's name
    timestamp_url: HttpUrl | None = None  # None: a fixed signing time, no timestamp server


@dataclass(frozen=True)
class SigstoreSigning:
    """Keyless: the CI's OIDC identity (GitHub's ambient token, or a token in token-env); identity
    and issuer are what `invoke verify` checks the certificate against."""

    identity: Line | None = None
    issuer: HttpUrl | None = None
    token_env: str = "SIGSTORE_IDENTITY_TOKEN"


MethodSettings = GpgSigning | MinisignSigning | SshSigning | AuthenticodeSigning | SigstoreSigning
M = TypeVar("M", GpgSigning, MinisignSigning, SshSigning, AuthenticodeSigning, SigstoreSigning)
# Method name -> its settings' dataclass; the order is the order methods are listed in messages.
METHOD_MODELS: dict[str, type[MethodSettings]] = {
    "gpg": GpgSigning, "minisign": MinisignSigning, "ssh": SshSigning, "authenticode": AuthenticodeSigning,
    "sigstore": SigstoreSigning,
}
SIGN_METHODS = tuple(METHOD_MODELS)


@dataclass(frozen=True)
class SignConfig:
    """[sign]: which methods sign, and each method's settings (environment overrides applied)."""

    methods: tuple[str, ...] = ()
    artifacts: bool = False  # also sign every artifact, not only SHA256SUMS
    gpg: GpgSigning = field(default_factory=GpgSigning)
    minisign: MinisignSigning = field(default_factory=MinisignSigning)
    ssh: SshSigning = field(default_factory=SshSigning)
    authenticode: AuthenticodeSigning = field(default_factory=AuthenticodeSigning)
    sigstore: SigstoreSigning = field(default_factory=SigstoreSigning)

    def fingerprint(self) -> str:
        """A stable text of every method's settings: the sign stage keys its signatures by it."""
        data = {m: dataclasses.asdict(getattr(self, m)) for m in SIGN_METHODS}
        return json.dumps(data, sort_keys=True, default=str)


# --- parsing -----------------------------------------------------------------------------------------

def _http_url(v: Any) -> HttpUrl:
    """An http(s) URL kept as written (a sigstore issuer is compared with the certificate's)."""
    if isinstance(v, str) and "@" in v.split("?")[0].split("#")[0]:
        # user:password@host: the value is never echoed, it may hold a credential.
        raise c.HoldsSecret("a URL without credentials")
    return HttpUrl.parse(v)


def _key_file(base: Path) -> Callable[[Any], Path]:
    """A key or keyring path: relative to targets.toml's directory, or absolute, resolved at load.
    Whether the file exists is checked when a command needs it (a build job has no signing keys)."""

    def check(v: Any) -> Path:
        try:
            return (base / Path(c.path_text(v)).expanduser()).resolve()
        except (OSError, RuntimeError) as exc:  # a symlink loop, an unreadable directory on the way
            raise ValueError(f"a path that can be resolved ({exc.__class__.__name__})") from None

    return check


def _checkers(base: Path) -> dict[str, dict[str, Callable[[Any], Any]]]:
    path = _key_file(base)
    return {
        "gpg": {"key": c.text_line, "homedir": path, "public-key": path, "passphrase-env": c.env_name},
        "minisign": {"key": path, "public-key": path, "passphrase-env": c.env_name},
        "ssh": {"key": path, "allowed-signers": path, "identity": c.text_line, "namespace": c.text_line},
        "authenticode": {"pkcs12": path, "password-env": c.env_name, "ca": path, "description": c.text_line,
                         "timestamp-url": _http_url},
        "sigstore": {"identity": c.text_line, "issuer": _http_url, "token-env": c.env_name},
    }


def env_name_of(method: str, key: str) -> str:
    """The variable that overrides [sign.<method>] <key>: WAVRYBUILD_GPG_KEY, WAVRYBUILD_SSH_ALLOWED_SIGNERS."""
    return f"WAVRYBUILD_{method.upper()}_{key.upper().replace('-', '_')}"


def _overrides(method: str, settings: Settings, checks: Mapping[str, Callable[[Any], Any]]) -> dict[str, str]:
    """This method's WAVRYBUILD_<METHOD>_<KEY> values. A name one typo away from a key is refused
    (WAVRYBUILD_GPG_KEYS would otherwise sign with the file's key, silently); other names are
    left alone: they may be another tool's."""
    out = {}
    for (m, key), value in settings.sign.items():
        if m != method:
            continue
        if key in checks:
            out[key] = value
        elif (near := suggest(key, list(checks))) is not None:
            raise ConfigError(f"{env_name_of(method, key)}: not a [sign.{method}] key; did you mean "
                              f"{env_name_of(method, near)}?", hint="keys: " + ", ".join(checks))
    return out


def _method(path: Path, method: str, model: type[M], raw: Any, settings: Settings,
            checks: Mapping[str, Callable[[Any], Any]]) -> M:
    table = c.check_table(path, f"sign.{method}.", raw)
    c.reject_unknown(path, f"sign.{method}.", table, checks)
    overrides = _overrides(method, settings, checks)
    values: dict[str, Any] = {}
    # WAVRYBUILD_<METHOD>_<KEY> wins over the file: CI passes key paths that way.
    for key, value in {**table, **overrides}.items():
        try:
            values[key.replace("-", "_")] = checks[key](value)
        except ValueError as exc:
            where = env_name_of(method, key) if key in overrides else f"{path}: sign.{method}.{key}"
            # A *-env value is not echoed: it may be the passphrase pasted in place of its name.
            secret = key.endswith("-env") or isinstance(exc, c.HoldsSecret) or key in overrides
            raise ConfigError(f"{where}: expected {exc}" + ("" if secret else f", got {value!r}")) from None
    return model(**values)


def _methods(path: Path, table: dict[str, Any], settings: Settings) -> tuple[str, ...]:
    raw = settings.sign_methods
    where = "WAVRYBUILD_SIGN_METHODS" if raw is not None else f"{path}: sign.methods"
    if raw is not None:
        methods = tuple(raw.replace(",", " ").split())
    else:
        methods = c.values(path, "sign.", {k: v for k, v in table.items() if k == "methods"},
                           {"methods": (c.str_list, ())})["methods"]
    for m in methods:
        if m not in SIGN_METHODS:
            near = suggest(m, list(SIGN_METHODS))
            raise ConfigError(f"{where}: unknown signing method {m!r}" + (f"; did you mean {near!r}?" if near else ""),
                              hint="methods: " + ", ".join(SIGN_METHODS))
    return methods


def parse_sign(path: Path, raw: Any, settings: Settings) -> SignConfig:
    table = c.check_table(path, "sign.", raw)
    c.reject_unknown(path, "sign.", table, {"methods", "artifacts", *SIGN_METHODS})
    artifacts = c.values(path, "sign.", {k: v for k, v in table.items() if k == "artifacts"},
                         {"artifacts": (c.bool_value, False)})["artifacts"]
    checks = _checkers(path.parent)

    def method(name: str, model: type[M]) -> M:
        return _method(path, name, model, table.get(name, {}), settings, checks[name])

    return SignConfig(
        methods=_methods(path, table, settings), artifacts=artifacts, gpg=method("gpg", GpgSigning),
        minisign=method("minisign", MinisignSigning), ssh=method("ssh", SshSigning),
        authenticode=method("authenticode", AuthenticodeSigning), sigstore=method("sigstore", SigstoreSigning),
    )

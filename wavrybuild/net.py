"""The one HTTP layer: every request wavrybuild sends (GitHub, GitLab, PyPI, the npm registry, an
HTTP PUT server, a crates index) goes through a `Client`. pulldeploy.py is the exception: it is
copied to servers and uses the standard library only (it has its own redirect rule).

What the layer guarantees, so that no destination has to remember it:
- credentials are bound to the origin (scheme, host, port) they were given for: they are added to
  requests to that origin only, and dropped from a redirect to any other origin (requests' own
  `rebuild_auth` strips only `Authorization`, and only on a host change: not `JOB-TOKEN`, not
  `PRIVATE-TOKEN`, not a move to another port);
- a redirect from https to http is refused (a download or a credential would travel in clear);
- every message it reports passes one scrubber that masks each secret in every encoding a request
  may carry it in (raw, URL-quoted, JSON-escaped, base64 alone or as `user:secret`, and base64 at
  any alignment inside a longer blob);
- every request has a (connect, read) timeout, and a timeout is a one-line error;
- a request that failed for a passing reason (a refused or reset connection, 429, 500, 502, 503,
  504, a rate limit's Retry-After) is sent again with exponential backoff, through urllib3's `Retry`
  on the session's adapters, as far as the request allows (`idempotent`: a request that may have
  been carried out is only sent again when the answer says it was not), within a cap on the total
  wait; the error after the last try names the service, the request, the status and the tries.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Literal, Self
from urllib.parse import quote, quote_plus, urlsplit

import requests
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ReadTimeoutError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from . import env as env_
from .errors import ConfigError, WavryError, suggest

# (connect, read) seconds. Transfers get a long read timeout: after the last byte of a large upload
# the server may take a while (GitHub scans assets) before it answers.
Timeout = tuple[float, float]
API_TIMEOUT: Timeout = (15, 60)
TRANSFER_TIMEOUT: Timeout = (15, 600)
CHUNK = 1 << 20
MASK = "***"
DEFAULT_PORTS = {"http": 80, "https": 443}
# Headers that carry a credential whatever the destination: dropped on every cross-origin redirect.
ALWAYS_SECRET = frozenset({"authorization", "proxy-authorization"})
# userinfo in a URL (https://user:pass@host/): never shown, whoever put it there.
USERINFO = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")
# A signed URL's signature or token in a query string (a redirect to S3 or GCS storage): the URL may
# be shown, the credential in it not.
SIGNED_QUERY = re.compile(r"([?&][^=&#\s]*(?:signature|token|credential|secret|password|sig)[^=&#\s]*=)[^&#\s]+", re.IGNORECASE)
# urllib3 puts object reprs in its messages ("<HTTPConnection object at 0x7f…>: "): noise for a user.
OBJECT_REPR = re.compile(r"<[^<>]* object at 0x[0-9a-fA-F]+>:?\s*")
# A base64 fragment shorter than this is too likely to occur by chance to be worth masking.
MIN_CORE = 6

Origin = tuple[str, str, int]
Redirect = Literal["keep", "drop", "refuse"]


class HttpError(WavryError):
    """A request failed. Names the service, what was being done, the method and URL; never a secret."""

    exit_code = 1


class InsecureRedirect(requests.RequestException):
    """Raised while following a redirect from https to plain http: the request is never sent."""


def origin(url: str) -> Origin:
    """(scheme, host, port) with the scheme's default port filled in: what credentials are bound to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: an origin nothing else shares
        port = -1
    return scheme, (parts.hostname or "").lower(), port or DEFAULT_PORTS.get(scheme, 0)


def redirect_policy(old: str, new: str) -> Redirect:
    """What a redirect from `old` to `new` may carry: everything (same origin), nothing secret
    (another scheme, host or port), or it is refused (https to anything but https)."""
    a, b = origin(old), origin(new)
    if a[0] == "https" and b[0] != "https":
        return "refuse"
    return "keep" if a == b else "drop"


# --- the scrubber ---------------------------------------------------------------------------------------

def _b64_forms(blob: bytes) -> set[str]:
    std = base64.b64encode(blob).decode()
    url = base64.urlsafe_b64encode(blob).decode()
    return {std, url, std.rstrip("="), url.rstrip("=")}


def _b64_cores(raw: bytes) -> set[str]:
    """The characters that depend only on `raw` when it is base64-encoded after 0, 1 or 2 other
    bytes: whatever precedes the secret in a blob (`__token__:`, a JSON header), one of these
    three runs appears in the encoding."""
    cores = set()
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + raw + b"\0\0").decode()
        first, last = -(-8 * k // 6), (8 * (k + len(raw))) // 6
        core = enc[first:last]
        cores |= {core, core.translate(str.maketrans("+/", "-_"))}
    return {c for c in cores if len(c) >= MIN_CORE}


def _lower_escapes(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), text)


class Scrubber:
    """Masks every known secret, in each of its encodings, in a text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._forms: set[str] = set()
        for s in secrets:
            self.add(s)

    def add(self, secret: str, *, user: str | None = None) -> None:
        """Know `secret`; `user`: it also travels as HTTP Basic `user:secret`."""
        if not secret:
            return
        raw = secret.encode()
        forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret), json.dumps(secret)[1:-1]}
        forms |= {_lower_escapes(f) for f in forms}
        forms |= _b64_forms(raw) | _b64_cores(raw)
        if user is not None:
            pair = f"{user}:{secret}"
            forms |= _b64_forms(pair.encode()) | {quote(pair, safe=""), pair}
        self._forms |= {f for f in forms if f}

    def forms(self) -> list[str]:
        """Every form, longest first (so that a longer form is masked before a shorter one inside it)."""
        return sorted(self._forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self.forms():
            text = text.replace(form, MASK)
        text = SIGNED_QUERY.sub(r"\1" + MASK, text)
        return USERINFO.sub(r"\1" + MASK + "@", text)


# --- retries ---------------------------------------------------------------------------------------------

# Answers that say "not now": tried again (with backoff, or after the server's Retry-After).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Methods whose request, carried out twice, leaves what once does (RFC 9110 9.2.2). A destination
# whose server does not honour that for one request says so (`Client.call(idempotent=False)`).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# The knobs, from the environment (parsed here, the one place they enter): name -> (default, max).
RETRY_ENV = {"WAVRYBUILD_HTTP_RETRIES": (4, 10), "WAVRYBUILD_HTTP_BACKOFF": (1.0, 60.0),
             "WAVRYBUILD_HTTP_MAX_WAIT": (120.0, 3600.0)}
_INT = re.compile(r"[0-9]{1,3}")
_SECONDS = re.compile(r"[0-9]{1,5}(?:\.[0-9]{1,6})?")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a request is tried again: `retries` after the first try, backoff
    `backoff` × 2^(n-1) seconds before the n-th retry (the first one at once, none longer than 60 s),
    and never more than `max_wait` seconds of waiting in all (a Retry-After beyond it: no wait, the error)."""

    retries: int = 4
    backoff: float = 1.0
    max_wait: float = 120.0

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> RetryPolicy:
        """WAVRYBUILD_HTTP_RETRIES / _BACKOFF / _MAX_WAIT; a value that is not a plain number in
        range, or another WAVRYBUILD_HTTP_* name (a typo would be ignored), is an error naming the variable."""
        names = env_.matching(lambda n: n.upper().startswith("WAVRYBUILD_HTTP_")) if environ is None else {
            n: v for n, v in environ.items() if n.upper().startswith("WAVRYBUILD_HTTP_")}
        for name in sorted(set(names) - set(RETRY_ENV)):
            close = suggest(name.upper(), frozenset(RETRY_ENV))
            raise ConfigError(f"environment variable {name[:60]}: not a setting wavrybuild knows",
                              hint=(f"did you mean {close}? " if close else "") + "the HTTP settings are "
                                   + ", ".join(RETRY_ENV))
        values: dict[str, float] = {}
        for name, (default, most) in RETRY_ENV.items():
            raw = env_.var(name) if environ is None else environ.get(name)
            if raw is None or raw == "":
                values[name] = default
                continue
            integer = isinstance(default, int)
            if not (_INT if integer else _SECONDS).fullmatch(raw) or float(raw) > most:
                shown = repr(raw[:40]) + ("…" if len(raw) > 40 else "")
                kind = "a whole number" if integer else "a number of seconds"
                raise ConfigError(f"environment variable {name}: {shown} is not {kind} from 0 to {most:g}",
                                  hint=f"set {name} to e.g. {default:g}, or unset it for the default ({default:g})")
            values[name] = int(raw) if integer else float(raw)
        return cls(int(values["WAVRYBUILD_HTTP_RETRIES"]), values["WAVRYBUILD_HTTP_BACKOFF"],
                   values["WAVRYBUILD_HTTP_MAX_WAIT"])

    def retry(self, idempotent: bool, log: RetryLog) -> WavryRetry:
        r = WavryRetry(total=self.retries, connect=self.retries, read=self.retries, status=self.retries, other=0,
                       redirect=None, status_forcelist=RETRY_STATUSES, backoff_factor=self.backoff, backoff_max=60,
                       backoff_jitter=self.backoff / 4, respect_retry_after_header=True, raise_on_status=False,
                       retry_after_max=10**9)
        r.idempotent, r.max_wait, r.log = idempotent, self.max_wait, log
        return r


@dataclass
class RetryLog:
    """What the retries of one call did, for its error message."""

    tries: int = 1
    waited: float = 0.0
    refused_wait: float | None = None  # the wait a server asked for that the budget did not allow


class WavryRetry(Retry):
    """urllib3's Retry with wavrybuild's rules: no second try of a request that may have been
    carried out unless the answer says it was not (429, or a Retry-After); no retry after a
    timeout (the wait was already long: the error says so); a cap on the total wait; a rate limit's
    reset time (X-RateLimit-Reset, GitHub's) read like a Retry-After."""

    # A 403 with Retry-After is GitHub's secondary rate limit.
    RETRY_AFTER_STATUS_CODES = frozenset({403, 413, 429, 503})
    idempotent: bool = True
    max_wait: float = 120.0
    log: RetryLog = RetryLog()
    planned: float = 0.0

    def new(self, **kw: Any) -> Self:
        r = super().new(**kw)
        r.idempotent, r.max_wait, r.log, r.planned = self.idempotent, self.max_wait, self.log, self.planned
        return r

    def _is_method_retryable(self, method: str) -> bool:
        return self.idempotent

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if not self.idempotent:
            # The server says it did not carry the request out: sending it again is safe.
            return bool(self.total) and (status_code == 429 or (
                has_retry_after and status_code in self.RETRY_AFTER_STATUS_CODES))
        return super().is_retry(method, status_code, has_retry_after)

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        header = response.headers.get("Retry-After")
        try:
            if header is not None:
                return self.parse_retry_after(header)
        except Exception:  # an unreadable Retry-After: the backoff decides
            return None
        return rate_limit_reset(response.headers)

    def increment(self, method: str | None = None, url: str | None = None, response: BaseHTTPResponse | None = None,
                  error: Exception | None = None, _pool: ConnectionPool | None = None,
                  _stacktrace: TracebackType | None = None) -> Self:
        self.log.tries = len(self.history) + 1
        if isinstance(error, ReadTimeoutError):
            raise error
        if isinstance(error, ConnectTimeoutError) and not isinstance(error, NewConnectionError):
            raise MaxRetryError(_pool, url or "", error)  # type: ignore[arg-type]
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        wait = None
        if response is not None:
            wait = new.get_retry_after(response) or None
        if wait is None:
            wait = new.get_backoff_time()
        if self.log.waited + wait > self.max_wait:
            self.log.refused_wait = wait
            raise MaxRetryError(_pool, url or "", error or ResponseError(  # type: ignore[arg-type]
                f"waiting {wait:g} s more is beyond the {self.max_wait:g} s allowed"))
        new.planned = wait
        self.log.waited += wait
        return new

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        if self.planned > 0:
            time.sleep(self.planned)


def rate_limit_reset(headers: Mapping[str, str]) -> float | None:
    """Seconds until an exhausted rate limit resets (X-RateLimit-Remaining: 0 with
    X-RateLimit-Reset in epoch seconds, as GitHub sends them), or None."""
    remaining, reset = headers.get("X-RateLimit-Remaining"), headers.get("X-RateLimit-Reset")
    if remaining is None or remaining.strip() != "0" or reset is None or not re.fullmatch(r"\s*[0-9]{1,12}\s*", reset):
        return None
    return max(0.0, int(reset) - time.time())


def _rate_limit_note(resp: requests.Response) -> str:
    wait = rate_limit_reset(resp.headers)
    if wait is None:
        return ""
    at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=wait)
    return f" (rate limit exhausted until {at:%H:%M:%S} UTC)"


# --- the session ----------------------------------------------------------------------------------------

class Session(requests.Session):
    """requests.Session with credentials bound to origins, the redirect rule, a default timeout and
    the retry policy (its adapters' urllib3 Retry, made for each request)."""

    def __init__(self, timeout: Timeout = API_TIMEOUT, retry: RetryPolicy | None = None) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.credentials: dict[Origin, dict[str, str]] = {}
        self.secret_headers: set[str] = set(ALWAYS_SECRET)
        self.retry_policy = retry or RetryPolicy()
        # None: by the method (IDEMPOTENT_METHODS); set by Client.call for the requests of one call.
        self.idempotent: bool | None = None
        self.retry_log = RetryLog()

    def authorize(self, url: str, headers: Mapping[str, str]) -> None:
        self.credentials.setdefault(origin(url), {}).update(headers)
        self.secret_headers |= {h.lower() for h in headers}

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        prepared = super().prepare_request(request)
        # A header the call sets itself (a one-off token for one URL) wins over the origin's.
        own = {h.lower() for h in (request.headers or {})}
        for name, value in self.credentials.get(origin(str(prepared.url)), {}).items():
            if name.lower() not in own and not (request.auth and name.lower() == "authorization"):
                prepared.headers[name] = value
        return prepared

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        # Replaces requests' rule (Authorization only, host change only) and its netrc lookup.
        old, new = str(response.request.url), str(prepared_request.url)
        policy = redirect_policy(old, new)
        if policy == "refuse":
            raise InsecureRedirect(f"refused a redirect from https to plain http ({new})")
        if policy == "drop":
            for name in list(prepared_request.headers):
                if name.lower() in self.secret_headers:
                    del prepared_request.headers[name]

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        # Every request, redirects included, has a timeout: requests' own default is to wait forever.
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        idempotent = self.idempotent
        if idempotent is None:
            idempotent = (request.method or "").upper() in IDEMPOTENT_METHODS
        adapter = self.get_adapter(str(request.url))
        if isinstance(adapter, requests.adapters.HTTPAdapter):
            adapter.max_retries = self.retry_policy.retry(idempotent, self.retry_log)
        return super().send(request, **kwargs)


def _reason(exc: BaseException) -> str:
    """The one-line cause of a requests exception, without urllib3's wrapping."""
    inner: Any = exc.args[0] if exc.args else exc
    reason = getattr(inner, "reason", None) or inner
    return " ".join(OBJECT_REPR.sub("", str(reason)).split()) or type(exc).__name__


def server_message(resp: requests.Response) -> str:
    """The server's own explanation, short and raw (callers scrub it): GitHub's JSON `message`,
    GitLab's `message`/`error`, a cargo registry's `errors[0].detail`, else the first line of a plain-text body."""
    with contextlib.suppress(ValueError, AttributeError):
        data = resp.json()
        if isinstance(data, dict):
            for key in ("message", "error"):
                if data.get(key):
                    return " ".join(str(data[key]).split())[:200]
            errors = data.get("errors")  # a cargo registry's web API: {"errors": [{"detail": …}]}
            if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("detail"):
                return " ".join(str(errors[0]["detail"]).split())[:200]
    with contextlib.suppress(Exception):
        text = resp.text.strip()
        # An HTML error page says nothing the status line does not; a plain-text body might.
        return "" if not text or text.startswith("<") else text.splitlines()[0][:200]
    return ""


class Client:
    """What a destination talks HTTP through. `error` is the exception type it raises."""

    error: ClassVar[type[WavryError]] = HttpError

    def __init__(self, kind: str, secrets: Iterable[str] = (), hints: Mapping[int, str] | None = None, *,
                 timeout: Timeout = API_TIMEOUT, transfer_timeout: Timeout = TRANSFER_TIMEOUT,
                 retry: RetryPolicy | None = None) -> None:
        self.kind = kind
        self.hints = dict(hints or {})
        self.scrubber = Scrubber(secrets)
        self.timeout = timeout
        self.transfer_timeout = transfer_timeout
        self.session = Session(timeout, retry or RetryPolicy.read())

    # -- credentials ----------------------------------------------------------------------------------

    def secret(self, value: str, *, user: str | None = None) -> None:
        """A value that must never appear in a message (a token sent in a body, an OIDC identity)."""
        self.scrubber.add(value, user=user)

    def authorize(self, url: str, *, bearer: str | None = None, basic: tuple[str, str] | None = None,
                  headers: Mapping[str, str] | None = None) -> None:
        """Send these credentials with every request to `url`'s origin, and to no other origin."""
        creds = dict(headers or {})
        for value in creds.values():
            self.secret(value)
        if bearer:
            self.secret(bearer)
            creds["Authorization"] = f"Bearer {bearer}"
        if basic:
            user, password = basic
            self.secret(password, user=user)
            creds["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if creds:
            self.session.authorize(url, creds)

    def share(self, from_url: str, to_url: str) -> None:
        """Send `from_url`'s credentials to `to_url`'s origin too (GitHub's API names its upload host)."""
        creds = self.session.credentials.get(origin(from_url))
        if creds:
            self.session.authorize(to_url, creds)

    # -- messages -------------------------------------------------------------------------------------

    def scrub(self, text: str) -> str:
        return self.scrubber(text)

    def fail(self, message: str, hint: str | None = None) -> WavryError:
        """The error to raise: every message leaves the layer through the scrubber."""
        return self.error(self.scrub(message), hint=self.scrub(hint) if hint else None)

    def server_message(self, resp: requests.Response) -> str:
        return self.scrub(server_message(resp))

    def _tries(self) -> str:
        log = self.session.retry_log
        note = f" after {log.tries} tries" if log.tries > 1 else ""
        if log.refused_wait is not None:
            note += (f" (the next try was {log.refused_wait:g} s away, beyond the "
                     f"{self.session.retry_policy.max_wait:g} s of WAVRYBUILD_HTTP_MAX_WAIT)")
        return note

    def _request_failed(self, exc: requests.RequestException, method: str, url: str, what: str,
                        timeout: Timeout) -> WavryError:
        where = f"{self.kind}: {what}: {method} {url}"
        if isinstance(exc, InsecureRedirect):
            return self.fail(f"{where}: {exc}", hint="the server (or a proxy) downgrades to http: use its https URL")
        if isinstance(exc, requests.ConnectTimeout):
            return self.fail(f"{where}: could not connect within {timeout[0]:g} s (timed out)",
                             hint="check the URL and the network; rerunning resumes where this stopped")
        if isinstance(exc, requests.Timeout) or "timed out" in str(exc):
            return self.fail(f"{where}: no answer within {timeout[1]:g} s (timed out)",
                             hint="the server did not answer; rerunning resumes where this stopped")
        return self.fail(f"{where} failed{self._tries()}: {_reason(exc)}",
                         hint="check the URL and the network; rerunning resumes where this stopped")

    # -- requests -------------------------------------------------------------------------------------

    def call(self, method: str, url: str, what: str, expect: tuple[int, ...] = (200,), *,
             transfer: bool = False, idempotent: bool | None = None, **kwargs: Any) -> requests.Response:
        """One request, tried again as the retry policy allows; a status outside `expect` (after the
        last try) is an error naming the status, the tries and the server's reason.
        `transfer`: it moves a whole file (the long read timeout). `idempotent`: whether sending the
        request twice does what once does (default: by the method, IDEMPOTENT_METHODS); when not, it
        is sent again only when it never reached the server or the answer says it was not carried out
        (429, Retry-After)."""
        timeout = self.transfer_timeout if transfer else self.timeout
        self.session.idempotent, self.session.retry_log = idempotent, RetryLog()
        try:
            resp = self.session.request(method, url, timeout=timeout, **kwargs)
        except requests.RequestException as exc:
            raise self._request_failed(exc, method, url, what, timeout) from None
        finally:
            self.session.idempotent = None
        if resp.status_code not in expect:
            detail = self.server_message(resp)
            resp.close()
            limited = _rate_limit_note(resp)
            raise self.fail(f"{self.kind}: {what}: {method} {url}: HTTP {resp.status_code} {resp.reason}"
                            + self._tries() + limited + (f": {detail}" if detail else ""),
                            hint="the service's rate limit: rerun after that time" if limited else
                            self.hints.get(resp.status_code, "rerunning resumes where this stopped"))
        return resp

    def json(self, resp: requests.Response, what: str) -> Any:
        """The JSON body; a page that is not JSON (a wrong API URL, a proxy's login page) is a clear error."""
        try:
            body = resp.json()
        except ValueError:
            raise self.fail(f"{self.kind}: {what}: {resp.request.method} {resp.url}: "
                            f"HTTP {resp.status_code} but the answer is not JSON",
                            hint="check that the configured URL points at the service's API") from None
        except requests.RequestException as exc:
            raise self._request_failed(exc, str(resp.request.method), str(resp.url), what, self.timeout) from None
        return body

    def json_object(self, resp: requests.Response, what: str) -> dict[str, Any]:
        body = self.json(resp, what)
        if not isinstance(body, dict):
            raise self.fail(f"{self.kind}: {what}: {resp.request.method} {resp.url}: the answer is JSON but not an object",
                            hint="check that the configured URL points at the service's API")
        return body

    def sha256_of(self, url: str, what: str, headers: Mapping[str, str] | None = None) -> str:
        """Download and hash, streamed: never holds the file in memory."""
        h = hashlib.sha256()
        with self.call("GET", url, what, stream=True, transfer=True, headers=dict(headers or {})) as resp:
            try:
                for chunk in resp.iter_content(CHUNK):
                    h.update(chunk)
            except requests.RequestException as exc:
                raise self._request_failed(exc, "GET", url, what, self.transfer_timeout) from None
        return h.hexdigest()

    def close(self) -> None:
        self.session.close()

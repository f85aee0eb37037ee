"""[publish.pypi]'s upload through twine, against a real pypiserver on localhost (password auth) with
a small wheel made here (tests/integration/test_publish_pypi.py does it with the built wheels): the
token only in twine's environment, never argv; our sha256 pre-check first; the index's refusal
reported with its status, scrubbed."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest

from tests.integration.servers import pypiserver
from wavrybuild.config.publish import PypiConfig
from wavrybuild.config.values import HttpUrl
from wavrybuild.publish.base import LocalFile, PublishError, ReleaseRef
from wavrybuild.publish.pypi import PypiDestination, twine_command, twine_failure

TOKEN = "pypi-AgEIcHlwaS5vcmcTwineUnit7c2d"
NAME = "wavry_twine_demo-0.1.0-py3-none-any.whl"


def wheel(tmp_path: Path, payload: str = "print('hi')\n") -> LocalFile:
    path = tmp_path / NAME
    files = {"wavry_twine_demo/__init__.py": payload,
             "wavry_twine_demo-0.1.0.dist-info/METADATA":
                 "Metadata-Version: 2.1\nName: wavry-twine-demo\nVersion: 0.1.0\nSummary: a test wheel\n",
             "wavry_twine_demo-0.1.0.dist-info/WHEEL":
                 "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{n},sha256={base64.urlsafe_b64encode(hashlib.sha256(t.encode()).digest()).decode().rstrip('=')},"
                     f"{len(t.encode())}\n" for n, t in files.items())
    with zipfile.ZipFile(path, "w") as zf:
        for n, t in files.items():
            zf.writestr(n, t)
        zf.writestr("wavry_twine_demo-0.1.0.dist-info/RECORD", record + "wavry_twine_demo-0.1.0.dist-info/RECORD,,\n")
    data = path.read_bytes()
    return LocalFile(NAME, path, len(data), hashlib.sha256(data).hexdigest())


def htpasswd(path: Path) -> Path:
    from passlib.apache import HtpasswdFile

    ht = HtpasswdFile(str(path), new=True)
    ht.set_password("__token__", TOKEN)
    ht.save()
    return path


def destination(url: str, token: str) -> PypiDestination:
    c = PypiConfig(repository_url=HttpUrl.parse(url + "/"), index_url=HttpUrl.parse(url + "/simple/"))
    return PypiDestination(c, ReleaseRef("wavry-twine-demo", "0.1.0", "a" * 40), token)


def test_the_token_goes_to_twine_through_its_environment_only(tmp_path: Path) -> None:
    cmd = twine_command("https://upload.example/legacy/", tmp_path / NAME, TOKEN)
    assert not [a for a in cmd.argv if TOKEN in a]
    assert cmd.argv[1:4] == ("-m", "twine", "--no-color") and "upload" in cmd.argv
    assert cmd.env["TWINE_PASSWORD"] == TOKEN and cmd.env["TWINE_USERNAME"] == "__token__"
    assert TOKEN not in cmd.display() and "TWINE_PASSWORD=***" in cmd.display()
    assert "TWINE_REPOSITORY_URL" in cmd.unset_env  # the user's own twine settings do not redirect it


def test_upload_rerun_and_refusals_with_a_real_index(tmp_path: Path) -> None:
    f = wheel(tmp_path)
    packages = tmp_path / "index"
    with pypiserver(packages, auth=htpasswd(tmp_path / "htpasswd")) as url:
        wrong = destination(url, TOKEN.replace("Unit", "Nope"))
        with pytest.raises(PublishError) as refused:
            wrong.put(f)
        wrong.close()
        message = str(refused.value)
        assert f"pypi: {NAME}: upload: POST {url}/: HTTP 403 Forbidden" in message, message
        assert "Nope" not in message and "the token may not upload" in message
        assert not packages.joinpath(NAME).exists()

        dest = destination(url, TOKEN)
        assert dest.put(f) == ("uploaded", "")
        assert packages.joinpath(NAME).read_bytes() == f.path.read_bytes()
        dest.start()
        assert dest.put(f) == ("skipped", "on the index with the same sha256")  # the pre-check: twine not run
        dest.close()

        (tmp_path / "other").mkdir()
        other = wheel(tmp_path / "other", "print('other')\n")
        fresh = destination(url, TOKEN)
        with pytest.raises(PublishError, match=r"already on .* with other contents"):
            fresh.put(other)
        fresh.close()


def test_twine_output_read_as_status_and_the_index_message() -> None:
    out = ("Uploading distributions to http://127.0.0.1:1/\nINFO     x.whl (0.2 KB)\nUploading x.whl\n"
           "INFO     Response from http://127.0.0.1:1/:\n         400 Bad Request\n"
           'INFO     {"message": "File already exists"}\n'
           "ERROR    HTTPError: 400 Bad Request from http://127.0.0.1:1/\n         Bad Request\n")
    assert twine_failure(out) == "HTTP 400 Bad Request: File already exists"
    html = out.replace('{"message": "File already exists"}', "<html><body>nope</body></html>")
    assert twine_failure(html) == "HTTP 400 Bad Request"
    plain = out.replace('{"message": "File already exists"}', "Invalid distribution metadata")
    assert twine_failure(plain) == "HTTP 400 Bad Request: Invalid distribution metadata"
    assert twine_failure("ERROR    InvalidDistribution: Unknown distribution format: 'x'\n") == \
        "twine failed: InvalidDistribution: Unknown distribution format: 'x'"

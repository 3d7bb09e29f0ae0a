"""`stacklab images copy`: role images from the host's registry cache into another registry.

Real tools, no daemon: a one-layer OCI image made here is written into a
registry storage by skopeo through a writable docker-registry, then copied from
that storage (served read-only by stacklab.cluster.image_copy) into a second registry.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
import urllib.request
from pathlib import Path

import pytest

from stacklab.cluster import image_copy as copy
from stacklab.cluster import registry
from stacklab.core.errors import UserError

TAG = "t1"


def _blob(layout: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _oci_image(layout: Path, text: str) -> None:
    """An OCI layout holding one image whose single layer is /hello.txt."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(text.encode())
        tar.addfile(info, io.BytesIO(text.encode()))
    layer = raw.getvalue()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [
                             "sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **_blob(layout, config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    **_blob(layout, gzip.compress(layer, mtime=0))}]}).encode()
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", **_blob(layout, manifest)}]}))


def _tags(address: str, repo: str) -> list[str]:
    with urllib.request.urlopen(f"http://{address}/v2/{repo}/tags/list", timeout=5) as r:
        return json.load(r)["tags"]


@pytest.fixture
def cache_with_s3_image(tmp_path: Path) -> Path:
    """A registry storage like the local cluster's, holding stacklab-s3:t1."""
    _oci_image(tmp_path / "oci", "made by the test\n")
    storage = tmp_path / "cache"
    with copy.serve_storage(storage, readonly=False) as address:
        subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                        f"oci:{tmp_path / 'oci'}", f"docker://{address}/stacklab-s3:{TAG}"],
                       check=True, capture_output=True)
    return storage


def test_copy_sends_the_cached_image_to_another_registry(cache_with_s3_image: Path,
                                                         tmp_path: Path, monkeypatch) -> None:
    def cache_dir(*parts: str) -> Path:
        if parts == ("registry",):
            return cache_with_s3_image
        tmp_path.joinpath(*parts).mkdir(parents=True, exist_ok=True)
        return tmp_path.joinpath(*parts)

    monkeypatch.setattr(copy, "cache_dir", cache_dir)
    with copy.serve_storage(tmp_path / "dest", readonly=False) as dest:
        seconds = copy.copy_roles(dest, TAG, roles=("s3",))
        assert seconds >= 0
        assert _tags(dest, "stacklab-s3") == [TAG]
        # the blobs arrive as they were: the copied layer unpacks to the file made above
        with urllib.request.urlopen(urllib.request.Request(
                f"http://{dest}/v2/stacklab-s3/manifests/{TAG}",
                headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})) as r:
            layer = json.load(r)["layers"][0]["digest"]
        with urllib.request.urlopen(f"http://{dest}/v2/stacklab-s3/blobs/{layer}") as r:
            with tarfile.open(fileobj=io.BytesIO(gzip.decompress(r.read()))) as tar:
                assert tar.extractfile("hello.txt").read() == b"made by the test\n"
        # a role the cache does not hold is one clear error naming it
        with pytest.raises(UserError, match="copy of stacklab-ray:t1 .* failed"):
            copy.copy_roles(dest, TAG, roles=("ray",))
    # the cache was served read-only: nothing was written into it
    assert sorted(p.name for p in (cache_with_s3_image / "docker/registry/v2/repositories").iterdir()) \
        == ["stacklab-s3"]


def test_copy_without_a_cache_says_how_to_make_one(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(copy, "cache_dir", lambda *parts: tmp_path.joinpath(*parts))
    with pytest.raises(UserError, match="stacklab cluster up"):
        copy.copy_roles("127.0.0.1:1", TAG, roles=("s3",))


def test_cached_tag_asks_for_one_when_ambiguous(tmp_path: Path, monkeypatch) -> None:
    pushed = tmp_path / "pushed.json"
    monkeypatch.setattr(registry, "pushed_file", lambda: pushed)
    with pytest.raises(UserError, match="none yet"):
        copy.cached_tag()
    pushed.write_text(json.dumps({"192.0.2.11:5000": "abc"}))
    assert copy.cached_tag() == "abc"
    pushed.write_text(json.dumps({"192.0.2.11:5000": "abc", "198.51.100.11:5000": "def"}))
    with pytest.raises(UserError, match="pass --tag"):
        copy.cached_tag()

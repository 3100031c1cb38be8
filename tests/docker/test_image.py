"""Which image the workbench builds and runs: its tag names the toolchain and changes with
the base image; the base follows WORKBENCH_BASE_IMAGE, else what the engine has."""

from __future__ import annotations

import re

import pytest

from workbench.containers import image


def test_the_tag_names_the_toolchain_and_follows_the_base():
    a, b = image.image_tag("one:base"), image.image_tag("other:base")
    for tag in (a, b):
        assert re.fullmatch(r"workbench:py\d+-numba[\d.]+-llvmlite[\d.]+-[0-9a-f]{12}", tag)
    assert a != b                                  # another base: another image
    assert image.image_tag("one:base") == a        # the same inputs: the same tag


def test_the_base_is_the_variable_else_what_the_engine_has(monkeypatch):
    monkeypatch.setenv("WORKBENCH_BASE_IMAGE", "lab/base:1")
    assert image.resolve_base() == "lab/base:1"
    assert image.resolve_base("given:1") == "given:1"
    monkeypatch.delenv("WORKBENCH_BASE_IMAGE")
    expected = (image.DEFAULT_BASE if image.exists(image.DEFAULT_BASE) else
                image.OFFLINE_BASE if image.exists(image.OFFLINE_BASE) else image.DEFAULT_BASE)
    assert image.resolve_base() == expected


def test_a_pinned_image_that_is_not_there_is_refused_with_the_fix(monkeypatch):
    import workbench as wb

    monkeypatch.setenv("WORKBENCH_IMAGE", "workbench:no-such-tag")
    with pytest.raises(wb.ContainerError, match="WORKBENCH_IMAGE=workbench:no-such-tag is not"):
        image.ensure()


def test_a_base_the_engine_cannot_fetch_is_answered_with_the_offline_one():
    msg = image._build_failed("python:3.11-slim", "pull access denied for python", [])
    assert "docker build on python:3.11-slim failed: pull access denied" in msg
    assert f"(as root), then use it:\n  workbench containers base {image.OFFLINE_BASE}\n" \
        in msg and "sudo" not in msg
    assert f"workbench containers build --base {image.OFFLINE_BASE}" in msg


BLOB_MIB = 8


def base_image(c, image_tag: str):
    return c.images.get(image.OFFLINE_BASE if image.exists(image.OFFLINE_BASE) else image_tag)


def commit(c, base, labels: dict, repository: str | None = None, tag: str | None = None,
           mib: int = 0):
    """A new image on ``base`` with ``labels`` (untagged: dangling, as a build stage is),
    holding ``mib`` MiB of its own data."""
    ctr = c.containers.run(base.id, ["sh", "-c", f"head -c {mib * 2**20} /dev/urandom "
                                     "> /blob"], detach=True)
    try:
        assert ctr.wait(timeout=120)["StatusCode"] == 0, ctr.logs()
        return ctr.commit(repository=repository, tag=tag, conf={"Labels": labels})
    finally:
        ctr.remove(force=True)


def gone(c, image_id: str) -> bool:
    try:
        c.images.get(image_id)
        return False
    except Exception:  # noqa: BLE001 - ImageNotFound
        return True


def test_prune_keeps_the_newest_images_per_toolchain_and_removes_build_stages(
        request):
    """Dummy images of a made-up toolchain (labelled like ours): prune keeps the newest
    ``keep`` of them, removes the rest, and never the image the tests run; a dangling
    build stage (labelled as the Dockerfile labels it) goes too, and its bytes count."""
    import time
    import uuid

    from workbench.containers import engine

    image_tag = request.getfixturevalue("image")        # the tests' image, built
    c = engine.client()
    pins = f"test-{uuid.uuid4().hex[:8]}"
    base = base_image(c, image_tag)
    stage = commit(c, base, {f"{engine.LABEL}.stage": "build"}, mib=BLOB_MIB)
    assert c.images.get(stage.id).tags == []            # dangling, as a build leaves it
    tags = []
    for i in range(3):                      # three "builds" of one toolchain, oldest first
        ctr = c.containers.create(base.id, ["true"])
        try:
            tag = f"workbench:prune-{pins}-{i}"
            ctr.commit(repository="workbench", tag=f"prune-{pins}-{i}", conf={"Labels": {
                f"{engine.LABEL}.image": "1", f"{engine.LABEL}.pins": pins}})
            tags.append(tag)
        finally:
            ctr.remove(force=True)
        time.sleep(1.1)                     # distinct creation times
    # the newest: an image whose tag a rebuild took over (untagged, labelled as ours)
    rebuilt = commit(c, base, {f"{engine.LABEL}.image": "1", f"{engine.LABEL}.pins": pins})
    try:
        removed, freed = image.prune(keep=2)
        assert rebuilt.id in removed and gone(c, rebuilt.id)    # it takes no kept place
        assert tags[0] in removed and tags[1] not in removed and tags[2] not in removed
        assert not image.exists(tags[0]) and image.exists(tags[1]) and image.exists(tags[2])
        assert image.exists(image_tag)                 # the tests' own image stays
        assert gone(c, stage.id)                       # the build stage is removed ...
        assert freed >= BLOB_MIB * 2**20, freed        # ... and its layer counted as freed
        assert not c.images.list(filters={"dangling": True,
                                          "label": f"{engine.LABEL}.stage=build"})
    finally:
        for tag in tags:
            if image.exists(tag):
                c.images.remove(tag, force=True)
        for leftover in (stage.id, rebuilt.id):
            if not gone(c, leftover):
                c.images.remove(leftover, force=True)


def test_clean_images_removes_ours_and_says_how_much_it_freed(request):
    """``workbench containers clean --images`` removes every workbench image no container
    uses, and the build stages. Every workbench image already on this (shared) engine is
    held by a stopped container meanwhile, so the command removes only the test's own."""
    import re
    import subprocess
    import sys
    import uuid

    from workbench.containers import engine

    image_tag = request.getfixturevalue("image")
    c = engine.client()
    base = base_image(c, image_tag)
    holders = [c.containers.create(img.id, ["true"]) for img in
               c.images.list(filters={"label": f"{engine.LABEL}.image=1"})]
    pins = f"test-{uuid.uuid4().hex[:8]}"
    try:
        ours = commit(c, base, {f"{engine.LABEL}.image": "1", f"{engine.LABEL}.pins": pins},
                      repository="workbench", tag=f"clean-{pins}", mib=BLOB_MIB)
        stage = commit(c, base, {f"{engine.LABEL}.stage": "build"}, mib=BLOB_MIB)
        sid = uuid.uuid4().hex[:10]             # no container of ours is touched but its
        out = subprocess.run([sys.executable, "-m", "workbench.cli", "containers", "clean",
                              "--session", sid, "--images"],
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        assert f"removed image workbench:clean-{pins}\n" in out.stdout, out.stdout
        freed = re.search(r"removed (\d+) image\(s\) and the build stages: ([\d,]+) MiB "
                          r"freed", out.stdout)
        assert freed, out.stdout
        assert int(freed[1]) >= 1 and int(freed[2].replace(",", "")) >= 2 * BLOB_MIB, \
            out.stdout
        assert gone(c, ours.id) and gone(c, stage.id)
        assert image.exists(image_tag)          # an image a container uses stays
    finally:
        for h in holders:
            h.remove(force=True)
        for leftover in (f"workbench:clean-{pins}",):
            if image.exists(leftover):
                c.images.remove(leftover, force=True)

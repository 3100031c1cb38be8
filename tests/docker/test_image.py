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


def test_prune_keeps_the_newest_images_per_toolchain_and_removes_build_stages(
        request):
    """Dummy images of a made-up toolchain (labelled like ours): prune keeps the newest
    ``keep`` of them, removes the rest, and never the image the tests run."""
    import time
    import uuid

    from workbench.containers import engine

    image_tag = request.getfixturevalue("image")        # the tests' image, built
    c = engine.client()
    pins = f"test-{uuid.uuid4().hex[:8]}"
    base = c.images.get(image.OFFLINE_BASE if image.exists(image.OFFLINE_BASE) else image_tag)
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
    try:
        removed, _ = image.prune(keep=2)
        assert tags[0] in removed and tags[1] not in removed and tags[2] not in removed
        assert not image.exists(tags[0]) and image.exists(tags[1]) and image.exists(tags[2])
        assert image.exists(image_tag)                 # the tests' own image stays
        assert not c.images.list(filters={"dangling": True,
                                          "label": f"{engine.LABEL}.stage=build"})
    finally:
        for tag in tags:
            if image.exists(tag):
                c.images.remove(tag, force=True)

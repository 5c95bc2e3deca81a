"""ui/static_files: JSON the browser fetches instead of receiving it with every rerun."""

from __future__ import annotations

import json
import os
import time

import pytest

from ui import static_files


def test_a_published_file_holds_the_data_and_is_written_once(tmp_path):
    calls = []

    def make():
        calls.append(1)
        return {"basis": "abc", "paths": [{"dtype": "f4", "bdata": "AAAA"}]}

    url = static_files.publish("preview-abc-1", make, folder=tmp_path)
    assert url == f"app/static/data/{static_files.TOKEN}-preview-abc-1.json"
    assert static_files.publish("preview-abc-1", make, folder=tmp_path) == url
    assert len(calls) == 1  # the second publish finds the file
    assert json.loads((tmp_path / url.rsplit("/", 1)[1]).read_text()) == make()
    assert [p.name for p in tmp_path.iterdir()] == [url.rsplit("/", 1)[1]]  # no temporary file left


def test_names_outside_the_allowed_letters_are_refused(tmp_path):
    with pytest.raises(ValueError, match="name: letters, digits"):
        static_files.publish("../escape", dict, folder=tmp_path)


def test_an_unwritable_place_gives_none(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert static_files.publish("x", dict, folder=blocker / "data") is None  # a file where the folder would be


def test_prune_keeps_the_newest(tmp_path):
    now = time.time()
    for i in range(6):
        path = tmp_path / f"{i}.json"
        path.write_text("{}")
        os.utime(path, (now - 100 + i, now - 100 + i))
    static_files.prune(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["4.json", "5.json"]


def test_prune_keeps_within_the_byte_budget(tmp_path):
    now = time.time()
    for i in range(5):
        path = tmp_path / f"{i}.json"
        path.write_text("x" * 100)
        os.utime(path, (now - 100 + i, now - 100 + i))
    static_files.prune(tmp_path, keep=10, max_bytes=250)  # the newest two fit in 250 bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["3.json", "4.json"]


def test_read_gives_a_published_files_data_and_resolved_puts_it_under_the_sent_fields(tmp_path):
    data = {"id": "r1", "map": {"data": [1, 2]}, "sliders": {"old": 1}}
    url = static_files.publish("map-r1", lambda: data, folder=tmp_path)
    assert static_files.read(url, folder=tmp_path) == data
    sent = {"id": "r1", "url": url, "sliders": {"new": 2}}
    assert static_files.resolved(sent, folder=tmp_path) == {**data, "url": url, "sliders": {"new": 2}}
    assert static_files.resolved(data, folder=tmp_path) is data  # inline: as sent


@pytest.mark.parametrize("url", ["app/static/data/../secret.json", "/etc/passwd", "app/static/data/x.txt"])
def test_read_refuses_what_publish_never_returns(tmp_path, url):
    with pytest.raises(ValueError, match="url: a URL that publish returned"):
        static_files.read(url, folder=tmp_path)


def test_a_module_is_written_once_under_its_content_and_the_stub_imports_it(tmp_path):
    source = "export default function (component) { component.parentElement.textContent = 'x'; }\n"
    stub = static_files.module_stub("widget", source, folder=tmp_path)
    (file,) = tmp_path.iterdir()
    assert file.read_text() == source and file.name.startswith("widget-") and file.suffix == ".js"
    assert f'"app/static/modules/{file.name}"' in stub and len(stub) < 1000
    assert static_files.module_stub("widget", source, folder=tmp_path) == stub
    changed = static_files.module_stub("widget", source + "// v2\n", folder=tmp_path)
    assert changed != stub and len(list(tmp_path.iterdir())) == 2  # a changed module: a file of its own


def test_a_module_that_cannot_be_written_goes_inline(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert static_files.module_stub("widget", "export default () => {};", folder=blocker / "m") == "export default () => {};"

"""Two students in Chromium through a lecture hall (deploy/lecture_hall.py): nginx in front of two
Streamlit processes. Each page (its HTML, scripts, websocket and download) is served by one
process, the two pages by different ones, and each downloads its own trajectories as a file.
"""

from __future__ import annotations

import io
import os
import re

import pandas as pd
import pytest

from deploy.lecture_hall import find_nginx
from tests.app_server import loopback_hall
from tests.e2e.browser import open_app
from tests.test_lecture_hall import upstream, wait_for_lines
from tests.test_load import expected, query, settings
from ui.export import trajectories_csv

pytestmark = pytest.mark.skipif(find_nginx() is None and os.environ.get("CI") != "true",
                                reason="nginx is not installed (Debian: apt-get install -y nginx; CI installs it)")


@pytest.fixture(scope="module")
def hall():
    with loopback_hall(2, "e2e-lecture-hall") as running:
        yield running


def test_each_student_stays_on_one_process_and_downloads_their_own_file(hall, new_page):
    students = [settings(3), settings(11)]
    pages = [new_page() for _ in students]
    for page, s in zip(pages, students):  # one after the other: the second finds the first's websocket open
        open_app(page, f"{hall.url}/?{query(s)}")
    cookies = [{c["name"]: c["value"] for c in page.context.cookies()}.get("optvis_hall") for page in pages]
    assert sorted(cookies) == ["0", "1"], cookies

    for page, s in zip(pages, students):
        with page.expect_download() as info:
            page.get_by_role("button", name=re.compile(r"^Trajectories \(CSV")).click()
        shown = pd.read_csv(info.value.path())
        pd.testing.assert_frame_equal(shown, pd.read_csv(io.BytesIO(trajectories_csv(expected(s)))),
                                      check_exact=False, rtol=1e-9, atol=1e-12)
        page.goto("about:blank")  # closes the websocket: nginx logs it then

    streams = wait_for_lines(hall, r"GET /_stcore/stream .* cookie=\d ", 2)
    assert len(streams) == 2, streams  # each page's websocket carried its cookie
    pinned = [line for line in hall.access_log().splitlines() if re.search(r" cookie=\d ", line)]
    assert any("/media/" in line for line in pinned), pinned
    for i in ("0", "1"):
        mine = [line for line in pinned if f" cookie={i} " in line]
        assert mine and {upstream(line) for line in mine} == {hall.backends[int(i)].address}, mine
    for b in hall.backends:
        assert "Traceback" not in hall.server_log(b), hall.server_log(b)

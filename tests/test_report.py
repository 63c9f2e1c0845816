"""`vidlabel report` of a real run, opened from the file system in a real headless Chromium (Debian's chromium and
chromium-driver, driven by selenium) with JavaScript on, and checked against the Parquet tables read with DuckDB.

The run is hostile on purpose: file names that are HTML, quotes and not UTF-8, files that fail at two different
stages, and class names (--label_file) that are HTML and mathtext. A report is a page people pass around: none of
it may run, and all of it must show as written.
"""

import json
import os
import shutil
import struct

import duckdb
import pytest

from conftest import IN_PROCESS, KINETICS_LABELS, VIDEOS, vidlabel

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
HTML_NAME = "<img src=x onerror=alert(1)>.mp4"
QUOTED_NAME = 'it\'s "quoted" & <b>.webm'
LATIN1_NAME = os.fsdecode(b"caf\xe9.webm")  # not valid UTF-8: the tables hold it percent-encoded


def hostile_label(i: int, name: str) -> str:
    return f"<b onmouseover=\"alert({i})\">{name}</b> & '$x^2$'"


@pytest.fixture(scope="module")
def report(lite_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    folder = root / "archive"
    folder.mkdir()
    shutil.copy(VIDEOS / "k400_arm_wrestling_h264.mp4", folder / HTML_NAME)
    shutil.copy(VIDEOS / "bear_vp9_161x121_odd.webm", folder / QUOTED_NAME)
    shutil.copy(VIDEOS / "bbb_vp8_vorbis_1s.webm", os.path.join(folder, LATIN1_NAME))
    for name in ("anet_clean_and_jerk_h264.mp4", "swimming_person.gif", "mug_rotate270_h264.mp4"):
        shutil.copy(VIDEOS / name, folder / name)
    for name in ("zero_bytes.webm", "opus_audio_only.mp4"):  # fail on opening and on finding a video stream
        shutil.copy(VIDEOS / name, folder / name)
    labels = root / "labels.txt"
    names = KINETICS_LABELS.read_text().splitlines()
    labels.write_text("\n".join(hostile_label(i, n) for i, n in enumerate(names)) + "\n")
    out, site = root / "out", root / "site"
    flags = ("--model", lite_model, "--label_file", labels, "--clip_seconds", "1", "--min_score", "0.002")
    vidlabel("run", *IN_PROCESS, "--input", folder, "--output", out, *flags)
    made = vidlabel("report", out, "--out", site)
    assert str(site / "index.html") in made.stdout
    return out, site


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium. Missing is a failure, never a skip: `.ci/run` installs it."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail(f"{CHROMIUM} and {CHROMEDRIVER} are needed: apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",  # as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1400",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


def sql(out, query, params=None):
    for table in ("predictions", "videos", "errors", "shots", "segments", "thumbnails"):
        query = query.replace(table.upper(), f"'{out}/{table}-*.parquet'")
    return duckdb.sql(query, params=params).fetchall()


def open_page(browser, url):
    """Loads a page; returns its console messages once it is done (no error may be among them)."""
    from selenium.common.exceptions import NoAlertPresentException

    browser.get(url)
    browser.execute_script("return document.readyState")
    messages = browser.get_log("browser")
    with pytest.raises(NoAlertPresentException):  # no name, label or message ran as code
        browser.switch_to.alert.text  # noqa: B018
    assert browser.execute_script("return document.querySelectorAll('img[src=x], b[onmouseover]').length") == 0
    assert not [m for m in messages if m["level"] in ("SEVERE", "WARNING")], messages
    return messages


def shown_ids(browser):
    return browser.execute_script(
        "return [...document.querySelectorAll('#video-list tbody tr')].map(r => +r.dataset.videoId)"
    )


def video_ids(site):
    """The report's own id for each URI (data/videos.js), to compare rows shown with the tables."""
    text = (site / "data" / "videos.js").read_text()
    data = json.loads(text[text.index("=") + 1 :].rstrip().rstrip(";"))
    return {video[1]: video[0] for video in data["videos"]}


def test_the_overview_shows_the_tables_figures_and_the_hostile_names_as_text(report, browser, tmp_path):
    out, site = report
    open_page(browser, (site / "index.html").as_uri())
    totals = browser.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('[data-total]')]"
        ".map(c => [c.dataset.total, c.querySelector('.value').textContent]))"
    )
    ((videos, ok, hours, clips),) = sql(
        out,
        "select count(*), count(*) filter (where status = 'ok'), "
        "sum(duration_s) filter (where status = 'ok') / 3600, sum(num_clips) from VIDEOS",
    )
    counted = {t: sql(out, f"select count(*) from {t.upper()}")[0][0] for t in ("shots", "segments", "thumbnails")}
    assert (videos, ok) == (8, 6) and counted["thumbnails"] >= 6
    assert totals == {
        "videos": str(videos),
        "ok": str(ok),
        "failed": str(videos - ok),
        "hours of video": f"{hours:.2f}",
        "clips": str(clips),
        "shots": str(counted["shots"]),
        "label segments": str(counted["segments"]),
        "thumbnails": str(counted["thumbnails"]),
    }
    names = browser.execute_script(
        "return [...document.querySelectorAll('#video-list td.name a')].map(a => [a.textContent, a.title])"
    )
    uris = [uri for (uri,) in sql(out, "select video_uri from VIDEOS order by 1")]
    assert names == [[uri.rsplit("/", 1)[-1], uri] for uri in uris]
    assert HTML_NAME in {text for text, _ in names} and QUOTED_NAME in {text for text, _ in names}
    assert "caf%E9.webm" in {text for text, _ in names}

    # Time per label: every label of any clip's top k, with the seconds of the clips it tops.
    label_rows = browser.execute_script(
        "return [...document.querySelectorAll('#label-table tbody tr')]"
        ".map(r => [r.cells[0].textContent, r.cells[3].textContent])"
    )
    expected = sql(
        out,
        "select t.label, count(distinct video_uri) from (select video_uri, unnest(top_k) as t from PREDICTIONS) "
        "group by 1",
    )
    assert sorted((label, int(n)) for label, n in label_rows) == sorted(expected)
    top_label, top_seconds = sql(
        out, "select top_k[1].label, sum(end_s - start_s) from PREDICTIONS group by 1 order by 2 desc, 1 limit 1"
    )[0]
    assert label_rows[0][0] == top_label and top_label.startswith("<b onmouseover=")

    # Failures: grouped by stage and error class, each group listing its files with their messages.
    groups = browser.execute_script(
        "return [...document.querySelectorAll('#failure-groups details')].map(d => "
        "[d.dataset.stage, d.dataset.errorClass, [...d.querySelectorAll('li')].map(li => li.textContent)])"
    )
    errors = sql(out, "select stage, error_class, video_uri, message from ERRORS order by 3")
    assert sorted((s, c, items) for s, c, items in groups) == sorted(
        (s, c, [f"{uri}: {message}"]) for s, c, uri, message in errors
    )
    assert {s for s, _, _ in groups} == {"open"} and len(groups) == 2  # InvalidDataError and NoVideoError
    for image in ("labels-chart", "durations-chart"):  # matplotlib's SVGs loaded
        assert browser.execute_script(f"return document.getElementById('{image}').naturalWidth") > 100
    shot = tmp_path / "overview.png"
    browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png_size(shot)[0] >= 1000


def test_filtering_shows_exactly_the_videos_that_have_a_label(report, browser):
    from selenium.webdriver.common.by import By

    out, site = report
    ids = video_ids(site)
    open_page(browser, (site / "index.html").as_uri())
    # The label most videos have but not all of them, its best score per video.
    per_video = sql(
        out,
        "select t.label, video_uri, max(t.score) from (select video_uri, unnest(top_k) as t from PREDICTIONS) "
        "group by 1, 2",
    )
    counts = {}
    for label, _, _ in per_video:
        counts[label] = counts.get(label, 0) + 1
    label = max((n, name) for name, n in counts.items() if n < 6)[1]
    scores = {uri: score for name, uri, score in per_video if name == label}

    field = browser.find_element(By.ID, "filter-label")
    field.send_keys(label)  # typed: input events, as a user's
    assert sorted(shown_ids(browser)) == sorted(ids[uri] for uri in scores)
    middle = sorted(scores.values())[len(scores) // 2]
    score = browser.find_element(By.ID, "filter-score")
    score.clear()
    score.send_keys(f"{middle:.4f}")
    assert sorted(shown_ids(browser)) == sorted(ids[u] for u, s in scores.items() if round(s, 4) >= round(middle, 4))
    assert "label=" in browser.current_url  # the filter is in the address: a link to it can be passed on

    # A label's link in the labels table filters by it; its count is the number of videos shown.
    open_page(browser, (site / "index.html").as_uri())
    link = next(
        a for a in browser.find_elements(By.CSS_SELECTOR, "#label-table tbody tr td:first-child a") if a.text == label
    )
    browser.execute_script("arguments[0].scrollIntoView()", link)
    link.click()
    assert browser.find_element(By.ID, "filter-label").get_attribute("value") == label
    assert sorted(shown_ids(browser)) == sorted(ids[uri] for uri in scores)

    # Part of a name matches every label that holds it, in any case.
    part = label.split(">")[1].split("<")[0][:5].upper()
    field = browser.find_element(By.ID, "filter-label")
    field.clear()
    field.send_keys(part)
    holding = {uri for name, uri, _ in per_video if part.lower() in name.lower()}
    assert sorted(shown_ids(browser)) == sorted(ids[uri] for uri in holding) and len(holding) >= len(scores)

    field.clear()
    browser.find_element(By.ID, "filter-name").send_keys("onerror")
    assert shown_ids(browser) == [ids[u] for u in ids if u.endswith(HTML_NAME)]
    browser.find_element(By.ID, "filter-name").clear()
    browser.execute_script(
        "const s = document.getElementById('filter-status'); s.value = 'error'; s.dispatchEvent(new Event('input'))"
    )
    failed = [uri for (uri,) in sql(out, "select video_uri from VIDEOS where status != 'ok'")]
    assert sorted(shown_ids(browser)) == sorted(ids[uri] for uri in failed)


def test_a_video_page_shows_its_thumbnails_timeline_labels_and_facts(report, browser, tmp_path):
    out, site = report
    ids = video_ids(site)
    uri = next(u for u in ids if u.endswith(HTML_NAME))
    open_page(browser, (site / "video.html").as_uri() + f"#{ids[uri]}")
    assert browser.find_element("id", "video-name").text == HTML_NAME
    assert browser.title == f"vidlabel report: {HTML_NAME}"
    thumbs = sql(out, "select time_s, width, height from THUMBNAILS where video_uri = $uri order by 1", {"uri": uri})
    shown = browser.execute_script(
        "return [...document.querySelectorAll('#thumbnails img')].map(i => [i.naturalWidth, i.naturalHeight])"
    )
    assert shown == [[w, h] for _, w, h in thumbs] and thumbs  # every JPEG loaded, at its size
    clips = sql(out, "select count(*) from PREDICTIONS where video_uri = $uri", {"uri": uri})[0][0]
    shots = sql(out, "select count(*) from SHOTS where video_uri = $uri", {"uri": uri})[0][0]
    assert browser.execute_script("return document.querySelectorAll('#timeline rect.span-clips').length") == clips
    assert browser.execute_script("return document.querySelectorAll('#timeline rect.span-shots').length") == shots
    marks = browser.execute_script("return document.querySelectorAll('#timeline .thumb-mark').length")
    assert marks == len(thumbs) and clips == 10 and shots == 2
    top = sql(out, "select top_k from VIDEOS where video_uri = $uri", {"uri": uri})[0][0]
    rows = browser.execute_script(
        "return [...document.querySelectorAll('#top-labels tr')]"
        ".map(r => [r.cells[0].textContent, +r.cells[1].textContent])"
    )
    assert [label for label, _ in rows] == [e["label"] for e in top]
    assert [score for _, score in rows] == pytest.approx([e["score"] for e in top], abs=6e-4)
    facts = browser.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#facts dt')].map(d => [d.textContent, "
        "d.nextElementSibling.textContent]))"
    )
    assert facts["codec"] == "h264" and facts["clips"] == "10" and facts["shots"] == "2"
    shot = tmp_path / "video.png"
    browser.save_screenshot(str(shot))
    assert png_size(shot)[0] >= 1000

    failed = next(u for u in ids if u.endswith("opus_audio_only.mp4"))
    open_page(browser, (site / "video.html").as_uri() + f"#{ids[failed]}")
    (message,) = sql(out, "select message from ERRORS where video_uri = $uri", {"uri": failed})[0]
    assert browser.find_element("id", "error-message").text == message


def test_a_result_without_thumbnails_or_shots_still_gets_its_report(report, browser, tmp_path):
    """As a result of an older vidlabel: the tables it did not write are gone; the report says so and renders."""
    out, _ = report
    old = tmp_path / "old"
    shutil.copytree(out.resolve(), old)
    for table in ("thumbnails", "shots", "segments"):
        for path in old.glob(f"{table}-*.parquet"):
            path.unlink()
    made = vidlabel("report", old, "--out", tmp_path / "site")
    assert "has no shots, segments, thumbnails table" in made.stderr
    open_page(browser, (tmp_path / "site" / "index.html").as_uri())
    assert browser.execute_script("return document.querySelectorAll('#video-list img').length") == 0
    open_page(browser, (tmp_path / "site" / "video.html").as_uri() + "#0")
    assert browser.find_element("id", "thumbnails").text == "No thumbnails in this result."
    assert browser.execute_script("return document.querySelectorAll('#timeline rect.span-clips').length") > 0


def png_size(path):
    """(width, height) from a PNG's header."""
    return struct.unpack(">II", path.read_bytes()[16:24])

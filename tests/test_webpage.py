"""``xares-report --html``: one self-contained page of the leaderboard, checked as text and in a real headless
Chromium (skipped, with the reason, where no browser, driver or selenium is installed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli import REPO
from helpers.records import make_record, record_document
from matplotlib.image import imread

from xares_hydra.report.browser import browser_missing, headless_chromium
from xares_hydra.report.cli import main as report_main
from xares_hydra.report.layers import layer_curves
from xares_hydra.report.leaderboard import StatisticsSettings, build_leaderboard, leaderboard_markdown
from xares_hydra.report.record import CostInfo, Record, load_records, write_record
from xares_hydra.report.shots import shot_curves
from xares_hydra.report.webpage import write_page

# (task, alpha's score, beta's score): hand-made X-ARES records beside the real demo runs
SCORES = (("esc50", 0.8, 0.6), ("speechcommandsv1", 0.5, 0.9), ("gtzan_genre", 0.7, None))
PARAMETERS = {"alpha": 1_000_000, "beta": 90_000_000}
LAYER_SCORES = (0.4, 0.65, 0.5)  # gamma on ESC-50, layer by layer
SHOT_SCORES = {1: 0.3, 5: 0.45, None: 0.6}  # delta on GTZAN by training clips per class (None: all)


def page_records(roots) -> list[Record]:
    """Two seeds of mel on demo_timbre (predictions, per-class values), alpha and beta on three X-ARES tasks, one
    of them with a block no typed model knows (an overlap mark), gamma's layers on ESC-50 and delta's few-shot
    scores on GTZAN."""
    records = load_records(roots.first) + load_records(roots.second)
    for task, *scores in SCORES:
        for encoder, score in zip(PARAMETERS, scores):
            if score is not None:
                record = make_record(task, encoder, score)
                record.task.tags = ["xares", "xares_public"]
                record.encoder.parameters = PARAMETERS[encoder]
                record.encoder.cost = CostInfo(flops_per_second=PARAMETERS[encoder] * 50.0, throughput=100.0)
                records.append(record)
    records[-1].overlap = {"audioset": True}  # type: ignore[attr-defined]  # a field no model knows
    records[-1].encoder.training_overlap = ["gtzan"]
    for layer, score in enumerate(LAYER_SCORES):
        records.append(make_record("esc50", "gamma", score, head={"lr": 1e-3, "hidden_dim": None, "layer": layer}))
    for shots, score in SHOT_SCORES.items():
        few = {"shots": shots, "draws": 3} if shots else {}
        records.append(make_record("gtzan_genre", "delta", score, head={"lr": 1e-3, "hidden_dim": None, **few}))
    return records


@pytest.fixture(scope="module")
def page(roots, tmp_path_factory) -> tuple[Path, str, str]:
    """The page (path and text) and the Markdown leaderboard of the same board."""
    records = page_records(roots)
    board = build_leaderboard(records, statistics=StatisticsSettings(resamples=50))
    folder = tmp_path_factory.mktemp("page")
    path = write_page([board], folder, "test board", (), layer_curves(records), shot_curves(records))
    return path, path.read_text(), leaderboard_markdown(board)


def test_the_page_shows_the_markdown_cells_and_needs_nothing_from_the_network(page):
    _, html, markdown = page
    lines = markdown.splitlines()
    header = next(line for line in lines if line.startswith("| Task")).split("|")
    timbre = next(line for line in lines if line.startswith("| Demo timbre")).split("|")
    mel_cell = timbre[[cell.strip() for cell in header].index("mel")].strip().strip("*")
    assert "(2 seeds)" in mel_cell and "[" in mel_cell and mel_cell in html  # interval and seeds as in the table
    assert "dasheng (published)" in html  # the reference columns, marked
    # URLs only as text (the published numbers' source), never as something to load or to link to
    loads = r"""(?:src|href|action|srcset)\s*=\s*["']?\s*(?:https?:|//)|url\(|@import|fetch\(|XMLHttpRequest|<link"""
    assert "https://github.com/jimbozhang/xares" in html and not re.search(loads, html)
    sources = re.findall(r'\b(?:src|href)="([^"]*)"', html)
    assert sources and all(source.startswith("data:image/png;base64,") for source in sources)
    assert "<script>" in html and "<style>" in html


def test_the_page_has_drill_downs_cards_costs_and_chance_lines(page):
    _, html, _ = page
    assert 'alt="confusion matrix of Demo timbre for mel' in html and "Per-class accuracy" in html
    assert "seed 0: " in html and "seed 1: " in html
    assert html.count('class="chance"') >= 2  # chance lines of the demo task's bar charts (MLP and kNN)
    assert "<dt>parameters</dt><dd>90000000</dd>" in html
    assert "default mode: MLP Weighted Average (all tasks) against FLOPs per audio second" in html
    assert "beta ◆ (4.5e+09, 0.750)" in html  # 4.5e9 FLOPs per second, average (0.6 + 0.9) / 2, on the front
    assert "<dt>cost.throughput</dt><dd>100</dd>" in html and "<dt>training_overlap</dt><dd>gtzan</dd>" in html
    assert """<abbr title="the encoder was trained on this task's corpus">†</abbr>""" in html
    assert "<dt>overlap.audioset</dt><dd>True</dd>" in html  # a block no typed model knows, shown as it is
    layers = re.search(r'aria-label="ESC-50: score per layer[^"]*".*?</svg>', html, re.S)
    assert layers and len(re.findall(r'class="marker s0"', layers.group(0))) == len(LAYER_SCORES)
    shots = re.search(r'aria-label="GTZAN Genre: score against training clips per class[^"]*".*?</svg>', html, re.S)
    assert shots and len(re.findall(r'class="marker s0"', shots.group(0))) == 2  # 1 and 5 clips per class
    assert 'stroke-dasharray="6 4"' in shots.group(0)  # all clips: the dashed level
    for domain in ("speech", "sound", "music"):
        assert f'<option value="{domain}">' in html
    assert '<label for="filter-tag">' in html and 'aria-sort="none"' in html


@pytest.mark.slow
def test_xares_report_html_writes_the_page_beside_the_other_reports(roots, tmp_path):
    out = tmp_path / "out"
    assert report_main([str(roots.first), "--out", str(out), "--html", "--resamples", "0"]) == 0
    text = (out / "leaderboard.html").read_text()
    board = build_leaderboard(load_records(roots.first), statistics=StatisticsSettings(resamples=0))
    records = load_records(roots.first)
    title = f"xares results in {roots.first}"
    page = write_page([board], tmp_path, title, (), layer_curves(records), shot_curves(records))
    assert "Demo timbre" in text and text == page.read_text()


@pytest.fixture(scope="module")
def browser():
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    driver = headless_chromium()
    yield driver
    driver.quit()


def task_order(table) -> list[str]:
    return [body.get_attribute("data-task") for body in table.find_elements("css selector", "tbody.task")]


@pytest.mark.slow
def test_in_a_browser_the_table_sorts_filters_and_opens_a_drill_down(page, browser):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    path, _, _ = page
    browser.get(path.as_uri())
    table = browser.find_element("id", "table-default-mlp")
    assert task_order(table) == ["esc50", "gtzan_genre", "speechcommandsv1", "demo_timbre"]  # X-ARES order
    alpha = table.find_element("xpath", ".//thead//button[normalize-space()='alpha']")
    alpha.click()
    assert task_order(table) == ["speechcommandsv1", "gtzan_genre", "esc50", "demo_timbre"]  # 0.5 0.7 0.8, none
    assert alpha.find_element("xpath", "..").get_attribute("aria-sort") == "ascending"
    alpha.send_keys(Keys.ENTER)  # the keyboard sorts as well: descending now
    assert task_order(table) == ["esc50", "gtzan_genre", "speechcommandsv1", "demo_timbre"]

    Select(browser.find_element("id", "filter-tag")).select_by_value("xares_public")
    shown = [body.get_attribute("data-task") for body in table.find_elements("css selector", "tbody.task")
             if body.is_displayed()]  # fmt: skip
    assert shown == ["esc50", "gtzan_genre", "speechcommandsv1"]
    Select(browser.find_element("id", "filter-domain")).select_by_value("speech")
    assert [body.get_attribute("data-task") for body in table.find_elements("css selector", "tbody.task")
            if body.is_displayed()] == ["speechcommandsv1"]  # fmt: skip
    assert browser.find_element("id", "filter-status").text == "2 of 8 task rows shown"  # MLP and kNN tables

    Select(browser.find_element("id", "filter-tag")).select_by_value("")
    Select(browser.find_element("id", "filter-domain")).select_by_value("")
    details = table.find_element("css selector", "tbody[data-task='demo_timbre'] button.details")
    detail = browser.find_element("id", details.get_attribute("aria-controls"))
    assert not detail.is_displayed()
    details.click()
    assert detail.is_displayed() and details.get_attribute("aria-expanded") == "true"
    assert detail.find_element("css selector", "svg.figure").is_displayed()

    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0


@pytest.mark.slow
def test_the_screenshot_script_writes_a_png_of_the_page(roots, tmp_path, browser):
    script, out = REPO / "scripts" / "leaderboard_screenshot.py", tmp_path / "page.png"
    command = [sys.executable, str(script), str(roots.first), "--out", str(out), "--width", "800"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"Wrote {out}" in result.stdout and imread(out).shape[1] == 800


def test_knn_drill_downs_list_their_seeds_when_the_learning_rate_is_swept(tmp_path):
    """kNN columns leave out the MLP's learning rate: their drill-downs show the seeds of the merged column."""
    root = tmp_path / "results"
    for lr, seed in ((0.01, 0), (0.01, 1), (0.1, 0), (0.1, 1)):  # neither is the task's default
        head = {"lr": lr, "hidden_dim": None, "seed": seed}
        record = record_document("esc50", "mine", 0.5 + lr + seed / 100, 0.4, head=head, overrides=(f"head.lr={lr}",))
        write_record(record, None, root)
    out = tmp_path / "out"
    assert report_main([str(root), "--out", str(out), "--html", "--resamples", "0", "--no-published"]) == 0
    html = (out / "leaderboard.html").read_text()

    def drill_down(slot: str) -> str:
        found = re.search(rf'<tr class="detail" id="detail-default-{slot}-0".*?</tr>', html, re.S)
        assert found, slot
        return found.group(0)

    assert "<summary>mine</summary>\n    <p>Seeds: seed 0: 0.400</p>" in drill_down("knn")
    assert "<summary>mine [lr=0.1]</summary>\n    <p>Seeds: seed 0: 0.600; seed 1: 0.610</p>" in drill_down("mlp")

"""The HTML report in a real browser: headless Chromium draws the demo report.

CI installs Debian's chromium (.ci/run), so there its absence is a failure; elsewhere
the test is skipped with the reason shown. The screenshot is decoded here (zlib and
struct, no imaging library) and must show the chart, not a blank page.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import struct
import subprocess
import zlib
from datetime import timedelta

import pytest

from tradestore import TradeData, TradeRepo
from tradestore.analytics.html import headline, write_html

HOSTILE = "<script>alert(1)</script>"
WIDTH, HEIGHT = 1200, 1600


@pytest.fixture(scope="module")
def chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") and not os.environ.get("TRADESTORE_NO_CHROMIUM"):
            pytest.fail("chromium must be installed in CI (apt-get install -y chromium)")
        if os.environ.get("TRADESTORE_NO_CHROMIUM"):
            pytest.skip(f"chromium could not be installed here: {os.environ['TRADESTORE_NO_CHROMIUM']}")
        pytest.skip("no chromium or chromium-browser on PATH: the browser test needs one "
                    "(apt-get install chromium); CI installs it")
    return found


def run_chromium(binary, tmp_path, *args, timeout=90) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
               f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "HOME": str(tmp_path)})


# ------------------------------------------------------------------ PNG, by hand
def decode_png(data: bytes) -> tuple[int, int, list[bytes], int]:
    """(width, height, rows of raw pixel bytes, bytes per pixel) of an 8-bit RGB(A) PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat, header = 8, [], None
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, previous = [], bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        rows.append(previous := unfilter(raw[start], raw[start + 1:start + 1 + stride],
                                         previous, bpp))
    return width, height, rows, bpp


def unfilter(kind: int, line: bytes, up: bytes, bpp: int) -> bytes:
    """Undo one scanline's PNG filter (0 none, 1 sub, 2 up, 3 average, 4 Paeth)."""
    if kind == 0:
        return bytes(line)
    if kind == 2:
        return bytes((a + b) & 0xFF for a, b in zip(line, up))
    out, n = bytearray(line), len(line)
    if kind == 1:
        for i in range(bpp, n):
            out[i] = (out[i] + out[i - bpp]) & 0xFF
    elif kind == 3:
        for i in range(n):
            out[i] = (out[i] + (((out[i - bpp] if i >= bpp else 0) + up[i]) >> 1)) & 0xFF
    elif kind == 4:
        for i in range(min(bpp, n)):   # no left neighbours: the predictor is the byte above
            out[i] = (out[i] + up[i]) & 0xFF
        for i in range(bpp, n):
            a, b, c = out[i - bpp], up[i], up[i - bpp]
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - c - c)
            out[i] = (out[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
    else:
        raise AssertionError(f"unknown PNG filter {kind}")
    return bytes(out)


def png(width: int, height: int, filtered_rows: list[bytes]) -> bytes:
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(filtered_rows))) + chunk(b"IEND", b""))


def test_png_decoder_on_a_hand_made_image():
    # 2 x 2 RGB: red, green / blue, white; rows filtered with "none" and "sub"
    row0 = b"\x00" + bytes([255, 0, 0, 0, 255, 0])
    row1 = b"\x01" + bytes([0, 0, 255, 255, 255, 0])   # white = blue + (255, 255, 0)
    width, height, rows, bpp = decode_png(png(2, 2, [row0, row1]))
    assert (width, height, bpp) == (2, 2, 3)
    assert rows == [bytes([255, 0, 0, 0, 255, 0]), bytes([0, 0, 255, 255, 255, 255])]


def test_png_decoder_undoes_every_filter():
    """Filter an image with each of the five PNG filters (as the spec defines them)."""
    width, bpp = 7, 3
    image = [bytes((x * 37 + y * 91 + (x * y) ** 2) % 256 for x in range(width * bpp))
             for y in range(6)]
    def predictor(kind, row, above, i):
        a = row[i - bpp] if i >= bpp else 0
        b = above[i]
        c = above[i - bpp] if i >= bpp else 0
        p = a + b - c
        paeth = min((abs(p - a), 0, a), (abs(p - b), 1, b), (abs(p - c), 2, c))[2]
        return [0, a, b, (a + b) // 2, paeth][kind]
    filtered, above = [], bytes(width * bpp)
    for y, row in enumerate(image):
        kind = [0, 1, 2, 3, 4, 4][y]
        filtered.append(bytes([kind]) + bytes((row[i] - predictor(kind, row, above, i)) & 0xFF
                                              for i in range(len(row))))
        above = row
    assert decode_png(png(width, len(image), filtered))[2] == image


# ------------------------------------------------------------------ the demo report
@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    """The demo bot's store plus one round trip of a hostile strategy, rendered to HTML."""
    from tradestore.tools.demo import build_demo
    folder = tmp_path_factory.mktemp("browser")
    path = build_demo(folder / "demo.db", days=60, seed=7)
    with TradeRepo(path) as repo:
        last = repo.latest_portfolio_snapshot().timestamp
        repo.save_trade(TradeData("XRP/USDT", "BUY", 10, "0.5", strategy=HOSTILE,
                                  timestamp=last - timedelta(hours=3)))
        repo.save_trade(TradeData("XRP/USDT", "SELL", 10, "0.6",
                                  timestamp=last - timedelta(hours=2)))
        page = write_html(repo, folder / "demo-report.html")
        metrics = repo.calculate_performance_metrics(None)
        expected = {key: text for key, _, text in headline(metrics)}
    return folder, page, expected


def test_screenshot_shows_the_chart(chromium, demo_report):
    folder, page, _ = demo_report
    shot = folder / "report.png"
    result = run_chromium(chromium, folder, f"--screenshot={shot}",
                          f"--window-size={WIDTH},{HEIGHT}", page.resolve().as_uri())
    assert shot.exists(), result.stderr[-2000:]
    width, height, rows, bpp = decode_png(shot.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)

    def pixels(y):
        row = rows[y]
        return (row[i:i + 3] for i in range(0, width * bpp, bpp))

    # the equity line is blue, the drawdown shading red: find the chart by its colours
    blue_rows, red_rows, blue, red = [], [], 0, 0
    for y in range(height):
        b_count = r_count = 0
        for r, g, b in pixels(y):
            if b > r + 60 and b > g + 25:
                b_count += 1
            elif r > g + 50 and r > b + 50:
                r_count += 1
        if b_count:
            blue_rows.append(y)
        if r_count > 100:   # a wide band of shading, not a red number in a table
            red_rows.append(y)
        blue, red = blue + b_count, red + r_count
    assert blue > 1500, f"only {blue} equity-line pixels: is the chart drawn?"
    assert blue_rows[-1] - blue_rows[0] > 150, "the equity line should span the chart height"
    assert red > 3000 and red_rows and min(red_rows) > blue_rows[0], \
        "the drawdown shading should be drawn beneath the equity curve"
    # and the chart area as a whole is busy: axes, grid, labels, line, shading
    top, bottom = blue_rows[0], max(red_rows)
    busy = sum(1 for y in range(top, bottom + 1) for r, g, b in pixels(y)
               if min(r, g, b) < 235)
    assert busy > 0.05 * (bottom - top + 1) * width, busy


def test_page_text_in_the_browser_has_the_headline_figures(chromium, demo_report):
    folder, page, expected = demo_report
    result = run_chromium(chromium, folder, "--dump-dom", page.resolve().as_uri())
    dom = result.stdout
    assert "<main>" in dom, result.stderr[-2000:]
    shown = {key: html.unescape(value) for key, value in re.findall(
        r'id="fig-(\w+)"[^>]*><dt>.*?</dt><dd>(.*?)</dd>', dom)}
    assert shown == expected
    assert expected["total_return"] != "n/a" and expected["total_trades"] != "0"
    # the hostile strategy is text on the page, not an element the browser made
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert "<script" not in dom.lower()

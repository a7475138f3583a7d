"""The web page in a real browser: Debian's Chromium, driven by Playwright.

    python web/tests/browser.py BASE_URL OUT_DIR

BASE_URL serves the page and the APIs (the all-in-one front address of `bourse --demo`,
or NGINX in front of the distributed services). As a newcomer would: sign up, see the
demo market move, follow an instrument in the watchlist, try an invalid order and read
the service's error, buy at market
into a demo market maker and see the fill in the portfolio and the notifications,
rest an order, replace it, cancel it, make an API key. Then the same page at a phone's
width, where the watchlist (the account's) still holds the instrument, unfollowed there. Screenshots go to OUT_DIR (desktop.png, phone.png). Prints
`web page: all checks passed` and exits 0, or fails with the reason.
"""

import os
import re
import secrets
import sys

from playwright.sync_api import expect, sync_playwright

BASE, OUT = sys.argv[1].rstrip("/"), sys.argv[2]
CHROMIUM = os.environ.get("BOURSE_CHROMIUM", "/usr/bin/chromium")
# The flags a closed machine needs: no background calls home, no sandbox as root.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT = 20_000
expect.set_options(timeout=TIMEOUT)


def watch(page, errors, refusals):
    """Collects the page's uncaught errors (a broken script fails the run) and the
    API's refusals (4xx and 5xx answers, which the checks account for)."""
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on(
        "response",
        lambda r: r.status >= 400
        and refusals.append(f"{r.request.method} {r.url.removeprefix(BASE)} {r.status}"),
    )


def order_row(page, text):
    return page.locator("#orders tbody tr", has_text=text)


def place(page, side, kind, qty, limit=None):
    page.check(f"#ticket input[name=side][value={side}]")
    page.select_option("#type", kind)
    page.fill("#qty", qty)
    if limit is not None:
        page.fill("#limit_price", limit)


def desktop(browser, username, password):
    errors, refusals = [], []
    ctx = browser.new_context(viewport={"width": 1366, "height": 900})
    page = ctx.new_page()
    watch(page, errors, refusals)
    page.goto(BASE + "/")
    expect(page.locator("#signin")).to_be_visible()

    # Sign up: logged in, the desk shown, the demo's instruments listed.
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#signup")
    expect(page.locator("#desk")).to_be_visible()
    expect(page.locator("#who")).to_have_text(username)
    # The clock names the regular session; outside it, orders still trade (below).
    expect(page.locator("#clock")).to_have_text(
        re.compile(r"^(Regular session|Outside regular hours)$")
    )
    expect(page.locator("#clock")).to_have_attribute("title", re.compile(r"\d"))
    page.select_option("#symbol", "ACME")

    # The demo market moves: trades stream in live (flashing rows), the book fills.
    expect(page.locator("#trades tbody tr.flash").first).to_be_attached()
    expect(page.locator("#book tbody tr").first).to_be_visible()
    expect(page.locator("#last")).to_have_text(re.compile(r"^\d+\.\d\d$"))
    expect(page.locator("#chart canvas").first).to_be_visible()

    # Paper money from the portfolio socket.
    expect(page.locator("#cash")).to_have_text("$100000.00")

    # Follow ACME: the watchlist shows it with its last trade's price.
    expect(page.locator("#watch-empty")).to_be_visible()
    expect(page.locator("#watch")).to_have_attribute("aria-pressed", "false")
    page.click("#watch")
    expect(page.locator("#watch")).to_have_attribute("aria-pressed", "true")
    watched = page.locator("#watchlist tbody tr[data-symbol=ACME]")
    expect(watched).to_have_count(1)
    expect(watched.locator(".last-price")).to_have_text(re.compile(r"^\d+\.\d\d$"))
    expect(page.locator("#watch-empty")).to_be_hidden()

    # An invalid order: the service's own message, shown in the ticket.
    place(page, "buy", "limit", "1")
    page.fill("#limit_price", "")
    page.click("#place")
    expect(page.locator("#ticket-error")).to_contain_text("limit_price")
    place(page, "buy", "market", "0")
    page.click("#place")
    expect(page.locator("#ticket-error")).to_contain_text("qty")

    # Buy 5 at market: it crosses a demo market maker's ask and fills.
    place(page, "buy", "market", "5")
    page.click("#place")
    expect(page.locator("#ticket-ok")).to_contain_text("filled")
    expect(page.locator("#ticket-error")).to_have_text("")
    # The fill in the live portfolio and in the notifications (pushed, unread).
    expect(page.locator("#positions tr[data-symbol=ACME] .qty")).to_have_text("5")
    expect(page.locator("#inbox li[data-kind=fill]").first).to_contain_text("ACME")
    expect(page.locator("#unread")).not_to_have_text("0")

    # A resting order far below the market: open, replaced at a new price, canceled.
    place(page, "buy", "limit", "2", limit="1.00")
    page.select_option("#tif", "gtc")
    page.click("#place")
    expect(page.locator("#ticket-ok")).to_contain_text("new")
    row = order_row(page, "1.00")
    expect(row).to_have_count(1)
    row.locator("[data-action=replace]").click()
    page.fill("#orders input[aria-label='New price']", "1.50")
    page.click("#orders form button[type=submit]")
    expect(order_row(page, "1.50")).to_have_count(1)
    expect(order_row(page, "1.00")).to_have_count(0)
    order_row(page, "1.50").locator("[data-action=cancel]").click()
    expect(order_row(page, "1.50")).to_have_count(0)
    expect(page.locator("#inbox li[data-kind=canceled]").first).to_be_visible()

    # An API key: its secret shown once, the key listed.
    page.fill("#key-label", "my bot")
    page.click("#key-form button")
    expect(page.locator("#new-key-secret")).to_have_text(re.compile(r"^\w{32}$"))
    expect(page.locator("#keys li", has_text="my bot")).to_have_count(1)

    # The only refusals were the two invalid orders'.
    assert refusals == ["POST /v2/orders 422"] * 2, refusals

    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(500)  # the last fade of the trade list
    page.screenshot(path=os.path.join(OUT, "desktop.png"), full_page=True)
    ctx.close()
    return errors


def phone(browser, username, password):
    errors, refusals = [], []
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = ctx.new_page()
    watch(page, errors, refusals)
    page.goto(BASE + "/")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login")
    expect(page.locator("#desk")).to_be_visible()
    expect(page.locator("#positions tr[data-symbol=ACME] .qty")).to_have_text("5")
    expect(page.locator("#trades tbody tr").first).to_be_visible()
    # The watchlist is the account's, not the tab's: ACME is still followed. Picked
    # from it, then unfollowed.
    watched = page.locator("#watchlist tbody tr[data-symbol=ACME]")
    expect(watched).to_have_count(1)
    watched.click()
    expect(page.locator("#symbol")).to_have_value("ACME")
    expect(page.locator("#watch")).to_have_attribute("aria-pressed", "true")
    page.click("#watch")
    expect(watched).to_have_count(0)
    expect(page.locator("#watch-empty")).to_be_visible()
    # One column, nothing wider than the screen.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px screen"
    ticket, market = (
        page.locator(s).bounding_box() for s in ("section.ticket", "section.market")
    )
    assert ticket["y"] > market["y"] and abs(ticket["x"] - market["x"]) < 2, (
        "on a phone the cards stack in one column"
    )
    assert refusals == [], refusals
    page.screenshot(path=os.path.join(OUT, "phone.png"), full_page=True)
    ctx.close()
    return errors


def main():
    os.makedirs(OUT, exist_ok=True)
    username, password = f"web{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        errors = desktop(browser, username, password)
        errors += phone(browser, username, password)
        browser.close()
    if errors:
        sys.exit("the page reported errors:\n" + "\n".join(errors))
    print("web page: all checks passed")


if __name__ == "__main__":
    main()

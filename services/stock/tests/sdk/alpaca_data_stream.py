"""The official alpaca-py StockDataStream against the stock service's /v2/iex.

Run by tests/stream.rs with: BASE_URL KEY_ID SECRET, while the test trades ACME every
300 ms. alpaca-py speaks MessagePack; it must receive a trade, a quote and a bar as its
models. Exits non-zero on the first failed check.
"""
import sys
import threading

from alpaca.data.live import StockDataStream

base, key, secret = sys.argv[1:4]
url = base.replace("http://", "ws://", 1) + "/v2/iex"
stream = StockDataStream(key, secret, url_override=url)
got = {}
done = threading.Event()


def check(ok, what):
    if not ok:
        print(f"alpaca-py: FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"alpaca-py: ok: {what}")


def keeper(kind):
    async def handler(item):
        got.setdefault(kind, item)
        if len(got) == 3:
            done.set()
    return handler


stream.subscribe_trades(keeper("trade"), "ACME")
stream.subscribe_quotes(keeper("quote"), "ACME")
stream.subscribe_bars(keeper("bar"), "ACME")
threading.Thread(target=stream.run, daemon=True).start()
check(done.wait(40), f"a trade, a quote and a bar within 40 s (got {sorted(got)})")
trade, quote, bar = got["trade"], got["quote"], got["bar"]
check(trade.symbol == "ACME" and trade.price > 100 and trade.size == 1, f"trade {trade}")
check(trade.timestamp.year >= 2026, f"trade time {trade.timestamp}")
check(quote.symbol == "ACME" and quote.bid_price >= 0 and quote.ask_price >= 0, f"quote {quote}")
check(bar.symbol == "ACME" and bar.high >= bar.low > 100 and bar.volume >= 1, f"bar {bar}")
stream.stop()
print("alpaca-py: all checks passed")

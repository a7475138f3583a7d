"""The official alpaca-py StockHistoricalDataClient against the stock service, changing
only the base URL.

Run by tests/market.rs with: BASE_URL KEY_ID SECRET, after two ACME trades (4 and 3
shares at 100.00) and with a bid of 2 at 99.00 and an ask of 3 at 100.00 resting.
Exits non-zero on the first failed check.
"""
import sys

from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import (
    StockBarsRequest,
    StockLatestQuoteRequest,
    StockLatestTradeRequest,
    StockSnapshotRequest,
    StockTradesRequest,
)
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

base, key, secret = sys.argv[1:4]
client = StockHistoricalDataClient(key, secret, url_override=base)


def check(ok, what):
    if not ok:
        print(f"alpaca-py: FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"alpaca-py: ok: {what}")


trade = client.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="ACME"))["ACME"]
check(trade.price == 100.0 and trade.size == 3, f"latest trade {trade.price} x {trade.size}")

quote = client.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="ACME"))["ACME"]
check(
    quote.bid_price == 99.0 and quote.bid_size == 2 and quote.ask_price == 100.0,
    f"latest quote {quote.bid_price} x {quote.bid_size} / {quote.ask_price} x {quote.ask_size}",
)

for frame in [TimeFrame.Minute, TimeFrame(5, TimeFrameUnit.Minute), TimeFrame.Hour, TimeFrame.Day]:
    bars = client.get_stock_bars(StockBarsRequest(symbol_or_symbols=["ACME"], timeframe=frame))
    acme = bars.data["ACME"]
    check(sum(b.volume for b in acme) == 7 and acme[0].open == 100.0, f"{frame} bars: {len(acme)}")
day = client.get_stock_bars(StockBarsRequest(symbol_or_symbols="ACME", timeframe=TimeFrame.Day)).data["ACME"][0]
check(day.trade_count == 2 and day.vwap == 100.0, f"daily bar {day}")

trades = client.get_stock_trades(StockTradesRequest(symbol_or_symbols="ACME", limit=2)).data["ACME"]
check([t.size for t in trades] == [4, 3], f"trades {[t.size for t in trades]}")

snap = client.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols="ACME"))["ACME"]
check(snap.latest_trade.size == 3 and snap.daily_bar.volume == 7, "snapshot")

print("alpaca-py: all checks passed")

"""The official alpaca-py TradingStream against the trader service's /stream.

Run by tests/stream.rs with: BASE_URL KEY_ID SECRET. A sell of ACME rests at 100.00
(another user's); the caller holds cash. The stream listens to trade_updates, the
TradingClient buys 2 at market, and the stream must hear the fill as alpaca-py's
TradeUpdate model. Exits non-zero on the first failed check.
"""
import sys
import threading
import time

from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce, TradeEvent
from alpaca.trading.requests import MarketOrderRequest
from alpaca.trading.stream import TradingStream

base, key, secret = sys.argv[1:4]
ws_url = base.replace("http://", "ws://", 1) + "/stream"
stream = TradingStream(key, secret, paper=True, url_override=ws_url)
client = TradingClient(key, secret, paper=True, url_override=base)
events = []
heard_fill = threading.Event()


def check(ok, what):
    if not ok:
        print(f"alpaca-py: FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"alpaca-py: ok: {what}")


async def on_update(update):
    events.append(update)
    if update.event == TradeEvent.FILL:
        heard_fill.set()


stream.subscribe_trade_updates(on_update)
thread = threading.Thread(target=stream.run, daemon=True)
thread.start()
# The stream authenticates and listens before the order goes in.
time.sleep(2)
order = client.submit_order(
    MarketOrderRequest(symbol="ACME", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
)
check(heard_fill.wait(20), f"a fill within 20 s (heard {[e.event for e in events]})")
fill = next(e for e in events if e.event == TradeEvent.FILL)
check(str(fill.order.id) == str(order.id), "the fill is the order's")
check(float(fill.price) == 100.0 and float(fill.qty) == 2, f"price {fill.price} qty {fill.qty}")
check(float(fill.position_qty) == 2, f"position_qty {fill.position_qty}")
check(fill.order.filled_qty == "2", f"filled_qty {fill.order.filled_qty}")
check(fill.execution_id is not None, "execution id")
check(TradeEvent.NEW in [e.event for e in events], "new came before it")
stream.stop()
print("alpaca-py: all checks passed")

"""The official alpaca-py SDK against the trader service, changing only the base URL.

Run by tests/orders.rs with: BASE_URL KEY_ID SECRET. A sell of ACME rests at 100.00
(another user's); the caller holds cash. Exits non-zero on the first failed check.
"""
import sys
import time

from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import (
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
)

base, key, secret = sys.argv[1:4]
client = TradingClient(key, secret, paper=True, url_override=base)


def check(ok, what):
    if not ok:
        print(f"alpaca-py: FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"alpaca-py: ok: {what}")


account = client.get_account()
check(account.status == "ACTIVE" and float(account.cash) > 0, f"account {account.cash}")

limit = client.submit_order(
    LimitOrderRequest(symbol="ACME", qty=2, side=OrderSide.BUY,
                      time_in_force=TimeInForce.GTC, limit_price=90, client_order_id="sdk-1")
)
check(limit.status == OrderStatus.NEW and limit.limit_price == "90.00", "limit order rests")
again = client.submit_order(
    LimitOrderRequest(symbol="ACME", qty=2, side=OrderSide.BUY,
                      time_in_force=TimeInForce.GTC, limit_price=90, client_order_id="sdk-1")
)
check(again.id == limit.id, "a repeated client_order_id is the same order")
check(client.get_order_by_id(limit.id).id == limit.id, "get by id")
check(client.get_order_by_client_id("sdk-1").id == limit.id, "get by client order id")
open_orders = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))
check([o.id for o in open_orders] == [limit.id], "list open orders")

replaced = client.replace_order_by_id(limit.id, ReplaceOrderRequest(qty=3, limit_price=91))
check(str(replaced.replaces) == str(limit.id) and replaced.qty == "3"
      and replaced.limit_price == "91.00", "replace makes a new order")
check(client.get_order_by_id(limit.id).status == OrderStatus.REPLACED, "the old order is replaced")
client.cancel_order_by_id(replaced.id)
check(client.get_order_by_id(replaced.id).status == OrderStatus.CANCELED, "cancel")
second = client.submit_order(
    LimitOrderRequest(symbol="ACME", qty=1, side=OrderSide.BUY,
                      time_in_force=TimeInForce.GTC, limit_price=80)
)
canceled = client.cancel_orders()
check([str(c.id) for c in canceled] == [str(second.id)] and canceled[0].status == 200,
      "cancel all")

market = client.submit_order(
    MarketOrderRequest(symbol="ACME", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
)
check(market.status == OrderStatus.FILLED and market.filled_avg_price == "100.00",
      "market order fills at the resting price")
# Positions are settlement's: give it a moment to catch up with the fill.
deadline = time.time() + 20
positions = client.get_all_positions()
while not positions and time.time() < deadline:
    time.sleep(0.05)
    positions = client.get_all_positions()
check([(p.symbol, p.qty, p.avg_entry_price) for p in positions] == [("ACME", "1", "100.00")],
      f"positions {positions}")
check(client.get_open_position("ACME").current_price == "100.00", "one position")
closed = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED))
check({o.id for o in closed} == {limit.id, replaced.id, second.id, market.id},
      "list closed orders")

try:
    client.submit_order(
        LimitOrderRequest(symbol="ACME", qty=100000, side=OrderSide.BUY,
                          time_in_force=TimeInForce.GTC, limit_price=100)
    )
    check(False, "an order beyond buying power is refused")
except Exception as e:  # the SDK raises APIError with the status
    check(getattr(e, "status_code", None) == 403, f"beyond buying power: {e}")
print("alpaca-py: all checks passed")

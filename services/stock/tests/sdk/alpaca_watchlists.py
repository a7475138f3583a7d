"""The official alpaca-py TradingClient's watchlist calls against the stock service,
changing only the base URL.

Run by tests/watchlists.rs with: BASE_URL KEY_ID SECRET, with ACME and BOLT listed and
the caller holding no watchlist. Exits non-zero on the first failed check.
"""
import sys

from alpaca.trading.client import TradingClient
from alpaca.trading.requests import CreateWatchlistRequest, UpdateWatchlistRequest

base, key, secret = sys.argv[1:4]
client = TradingClient(key, secret, paper=True, url_override=base)


def check(ok, what):
    if not ok:
        print(f"alpaca-py: FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"alpaca-py: ok: {what}")


def symbols(w):
    return [a.symbol for a in w.assets or []]


check(client.get_watchlists() == [], "no watchlists yet")
made = client.create_watchlist(CreateWatchlistRequest(name="sdk", symbols=["ACME"]))
check(made.name == "sdk" and symbols(made) == ["ACME"], f"created {made.name} {symbols(made)}")
lists = client.get_watchlists()
check([w.id for w in lists] == [made.id] and lists[0].assets is None, "listed, without assets")
added = client.add_asset_to_watchlist_by_id(made.id, "BOLT")
check(symbols(added) == ["ACME", "BOLT"], f"added BOLT: {symbols(added)}")
renamed = client.update_watchlist_by_id(made.id, UpdateWatchlistRequest(name="sdk-2"))
check(renamed.name == "sdk-2" and symbols(renamed) == ["ACME", "BOLT"], "renamed, symbols kept")
removed = client.remove_asset_from_watchlist_by_id(made.id, "ACME")
check(symbols(removed) == ["BOLT"], f"removed ACME: {symbols(removed)}")
one = client.get_watchlist_by_id(made.id)
check(one.id == made.id and one.updated_at >= one.created_at, "read back by id")
client.delete_watchlist_by_id(made.id)
check(client.get_watchlists() == [], "deleted")
print("alpaca-py: all checks passed")

//! Reading a user's holdings from settlement's tables: cash, and each symbol held with
//! its quantity, its cost basis and the last trade's price. The trader service's
//! positions and the portfolio service's live valuation both read them from here,
//! through [`HoldingsReader`] (on either store).
//!
//! The cost basis is the average cost of the user's own trades in the symbol, in
//! sequence: a buy adds its price × quantity, a sell takes away its share of the cost.
//! Shares deposited by an admin come in at no cost. Everything stays in integer cents
//! and shares.

use bourse_core::CASH;
use deadpool_postgres::GenericClient;

use crate::OrderError;

/// One symbol held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// Ticker.
    pub symbol: String,
    /// Shares.
    pub qty: i64,
    /// What the shares cost, in cents.
    pub cost: i64,
    /// The last trade's price in the symbol (anyone's), in cents; `None`: never traded.
    pub last_price: Option<i64>,
}

/// A user's cash and holdings, as settled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holdings {
    /// Cash, in cents.
    pub cash: i64,
    /// Every symbol with shares held, by ticker.
    pub positions: Vec<Held>,
}

/// The remaining `(shares, cost)` after `trades` (price, qty, bought), in order.
pub fn average_cost(trades: &[(i64, i64, bool)]) -> (i64, i64) {
    let (mut held, mut cost) = (0i64, 0i128);
    for &(price, qty, bought) in trades {
        if bought {
            held += qty;
            cost += i128::from(price) * i128::from(qty);
        } else if held > 0 {
            let sold = qty.min(held);
            cost -= cost * i128::from(sold) / i128::from(held);
            held -= sold;
        }
    }
    (held, cost as i64)
}

/// Reads holdings from settlement's tables: [`crate::store::pg::PgSettlement`] and
/// [`crate::store::lite::LiteSettlement`] both do.
#[async_trait::async_trait]
pub trait HoldingsReader: Send + Sync + std::fmt::Debug {
    /// `user`'s cash and holdings (only `symbol`'s, if given).
    async fn holdings(&self, user: u64, symbol: Option<&str>) -> Result<Holdings, OrderError>;
    /// The last trade settled in `symbol`: its price in cents and its event sequence
    /// number.
    async fn last_trade(&self, symbol: &str) -> Result<Option<(i64, u64)>, OrderError>;
    /// The readiness check of the store it reads.
    fn check(&self) -> Box<dyn bourse_shell::health::Check>;
}

/// What a store reads for one symbol held: its balance, the user's own trades in it
/// (price, qty, bought) in sequence, and the last trade's price (anyone's).
#[derive(Debug, Default)]
pub struct HeldRows {
    /// Ticker.
    pub symbol: String,
    /// The balance.
    pub qty: i64,
    /// The user's trades in it.
    pub trades: Vec<(i64, i64, bool)>,
    /// The last trade's price.
    pub last_price: Option<i64>,
}

/// A position from its rows: the cost basis of the trades, scaled down when more
/// shares are held than trading explains (the rest were deposited, at no cost).
pub fn held(rows: HeldRows) -> Held {
    let (traded, cost) = average_cost(&rows.trades);
    let cost = if traded > rows.qty && traded > 0 {
        cost * rows.qty / traded
    } else {
        cost
    };
    Held {
        symbol: rows.symbol,
        qty: rows.qty,
        cost,
        last_price: rows.last_price,
    }
}

/// The balances a holdings read looks at: cash (always) and every symbol held (only
/// `symbol`, if given). PostgreSQL's form; the SQLite store's differs only in `?`.
pub(crate) const BALANCES: &str = "SELECT asset, amount FROM balances
     WHERE user_id = $1 AND (asset = $2 OR (amount > 0 AND ($3::TEXT IS NULL OR asset = $3)))
     ORDER BY asset";

/// The user's own trades in a symbol, in sequence: the cost basis is worked out from
/// them on every read, so they are found by index (`trades_by_buyer`,
/// `trades_by_seller`), never by a scan of every trade.
pub const OWN_TRADES: &str = "SELECT price, qty, buyer = $1 FROM trades
     WHERE symbol = $2 AND (buyer = $1 OR seller = $1) ORDER BY seq";

/// The last trade in a symbol.
pub(crate) const LAST_TRADE: &str =
    "SELECT price, seq FROM trades WHERE symbol = $1 ORDER BY seq DESC LIMIT 1";

/// Settlement's tables in PostgreSQL, read through `client` (a pooled connection or a
/// transaction): [`HoldingsReader::holdings`] inside a caller's own transaction.
pub(crate) async fn load(
    client: &impl GenericClient,
    user: u64,
    symbol: Option<&str>,
) -> Result<Holdings, OrderError> {
    let user = user as i64;
    let rows = client
        .query(
            &client.prepare_cached(BALANCES).await?,
            &[&user, &CASH, &symbol],
        )
        .await?;
    let mut out = Holdings::default();
    for row in &rows {
        let (asset, qty): (String, i64) = (row.get(0), row.get(1));
        if asset == CASH {
            out.cash = qty;
            continue;
        }
        let trades: Vec<(i64, i64, bool)> = client
            .query(&client.prepare_cached(OWN_TRADES).await?, &[&user, &asset])
            .await?
            .iter()
            .map(|t| (t.get(0), t.get(1), t.get(2)))
            .collect();
        let last_price = last_trade(client, &asset).await?.map(|(price, _)| price);
        out.positions.push(held(HeldRows {
            symbol: asset,
            qty,
            trades,
            last_price,
        }));
    }
    Ok(out)
}

/// The last trade settled in `symbol`, read through `client`.
pub(crate) async fn last_trade(
    client: &impl GenericClient,
    symbol: &str,
) -> Result<Option<(i64, u64)>, OrderError> {
    Ok(client
        .query_opt(&client.prepare_cached(LAST_TRADE).await?, &[&symbol])
        .await?
        .map(|r| (r.get(0), r.get::<_, i64>(1) as u64)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_cost_follows_buys_and_sells_in_order() {
        // 10 at 100, 10 at 110: 20 at 105; sell 5: 15 at 105; buy 5 at 125: 20 at 110.
        let trades = [
            (10_000, 10, true),
            (11_000, 10, true),
            (12_000, 5, false),
            (12_500, 5, true),
        ];
        assert_eq!(average_cost(&trades), (20, 220_000));
        assert_eq!(average_cost(&[(100, 3, true), (200, 3, false)]), (0, 0));
        assert_eq!(
            average_cost(&[(100, 3, false)]),
            (0, 0),
            "a sell of deposited shares"
        );
    }
}

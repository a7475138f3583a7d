//! Reading a user's holdings from settlement's tables: cash, and each symbol held with
//! its quantity, its cost basis and the last trade's price. The trader service's
//! positions and the portfolio service's live valuation both read them from here,
//! through [`HoldingsReader`] (on either store).
//!
//! The cost basis is the average cost of the user's own trades in the symbol, in
//! sequence: a buy adds its price × quantity, a sell takes away its share of the cost.
//! Shares deposited by an admin come in at no cost. Settlement keeps that walk's state
//! on each balance row as it settles the trades ([`Cost`]: `balances.traded` and
//! `balances.cost`), so a read is one row a symbol, whatever the user's history.
//! Everything stays in integer cents and shares.

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

/// Where the average-cost walk over one user's trades in one symbol stands: the shares
/// bought and not sold since, and what they cost (cents). Settlement steps it with each
/// trade ([`Cost::after`]) and keeps it on the balance row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Shares from trading still held (never below zero: a sell of shares that came
    /// in by deposit takes none away).
    pub traded: i64,
    /// What those shares cost, in cents.
    pub cost: i64,
}

impl Cost {
    /// The state after a trade of `qty` at `price`, `bought` or sold: a buy adds its
    /// price × quantity; a sell takes away its share of the cost (rounded toward zero),
    /// and sells no more shares than trading brought.
    pub fn after(self, price: i64, qty: i64, bought: bool) -> Cost {
        let (held, cost) = (i128::from(self.traded), i128::from(self.cost));
        let (held, cost) = if bought {
            (
                held + i128::from(qty),
                cost + i128::from(price) * i128::from(qty),
            )
        } else if held > 0 {
            let sold = i128::from(qty).min(held);
            (held - sold, cost - cost * sold / held)
        } else {
            (held, cost)
        };
        let clamp = |v: i128| v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        Cost {
            traded: clamp(held),
            cost: clamp(cost),
        }
    }
}

/// The remaining `(shares, cost)` after `trades` (price, qty, bought), in order.
pub fn average_cost(trades: &[(i64, i64, bool)]) -> (i64, i64) {
    let end = trades
        .iter()
        .fold(Cost::default(), |c, &(price, qty, bought)| {
            c.after(price, qty, bought)
        });
    (end.traded, end.cost)
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

/// What a store reads for one symbol held: its balance with the cost walk settlement
/// keeps on it, and the last trade's price (anyone's).
#[derive(Debug, Default)]
pub struct HeldRows {
    /// Ticker.
    pub symbol: String,
    /// The balance.
    pub qty: i64,
    /// The average-cost walk over the user's trades in it.
    pub traded: Cost,
    /// The last trade's price.
    pub last_price: Option<i64>,
}

/// A position from its rows: the cost basis of the trades, scaled down when fewer
/// shares are held than trading brought (some were withdrawn); shares held beyond
/// what trading brought were deposited, at no cost.
pub fn held(rows: HeldRows) -> Held {
    let Cost { traded, cost } = rows.traded;
    let cost = if traded > rows.qty && traded > 0 {
        (i128::from(cost) * i128::from(rows.qty.max(0)) / i128::from(traded)) as i64
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
/// `symbol`, if given), each with its cost walk and its symbol's last trade price, in
/// one statement. PostgreSQL's form; the SQLite store's differs only in `?`.
pub(crate) const BALANCES: &str = "SELECT b.asset, b.amount, b.traded, b.cost, l.price
     FROM balances b LEFT JOIN last_trades l ON l.symbol = b.asset
     WHERE b.user_id = $1
       AND (b.asset = $2 OR (b.amount > 0 AND ($3::TEXT IS NULL OR b.asset = $3)))
     ORDER BY b.asset";

/// Every holding's cost walk that is not zero: what settlement loads at start.
pub(crate) const COSTS: &str = "SELECT user_id, asset, traded, cost FROM balances
     WHERE traded <> 0 OR cost <> 0";

/// The last trade in a symbol (settlement keeps it, `last_trades`).
pub(crate) const LAST_TRADE: &str = "SELECT price, seq FROM last_trades WHERE symbol = $1";

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
        out.positions.push(held(HeldRows {
            symbol: asset,
            qty,
            traded: Cost {
                traded: row.get(2),
                cost: row.get(3),
            },
            last_price: row.get(4),
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

    #[test]
    fn a_position_scales_its_cost_to_the_shares_still_held() {
        let rows = |qty| HeldRows {
            symbol: "ACME".into(),
            qty,
            traded: Cost {
                traded: 20,
                cost: 2_100,
            },
            last_price: None,
        };
        // Half withdrawn: half the cost stays.
        assert_eq!(held(rows(10)).cost, 1_050);
        // Ten more deposited: they came at no cost.
        assert_eq!(held(rows(30)).cost, 2_100);
        assert_eq!(held(rows(20)).cost, 2_100);
    }
}

//! Orders the trader service placed, as settlement finds them by client id.
//!
//! The trader gives every order it sends the engine a token of its own making as the
//! engine's client order id, and reads settlement's view of the order by joining on
//! (user, token). Nothing else reads settlement's orders by client id: an order from
//! the binary gateway (a market maker's, most of an exchange's flow) is followed
//! through the gateway's own reports. So settlement indexes orders by (user, client
//! id) only where the client id is a trader token (`orders_by_token`, a partial index;
//! migration 0011), and a fill between two gateway orders writes no entry into it.

/// The first character of every token the trader mints, and what the index of
/// trader orders is restricted to. A gateway client id that happens to begin with it
/// is indexed too, which costs an entry and changes nothing else.
pub const TOKEN_PREFIX: char = 'H';

/// The SQL condition (PostgreSQL) that finds settlement's order, aliased `orders`, of
/// the trader row aliased `trader` (`user_id`, `token`). PostgreSQL uses a partial
/// index only for a query that states the index's own predicate, so the condition
/// states it: every trader token satisfies it, so it never drops a match.
pub fn by_token(orders: &str, trader: &str) -> String {
    format!(
        "{orders}.user_id = {trader}.user_id AND {orders}.client_id = {trader}.token \
         AND {orders}.client_id LIKE '{TOKEN_PREFIX}%'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migration_indexes_exactly_the_tokens_the_join_states() {
        let migration = include_str!("../migrations/0011_orders_by_token.sql");
        let predicate = format!("WHERE client_id LIKE '{TOKEN_PREFIX}%'");
        assert!(migration.contains(&predicate), "{migration}");
        assert!(by_token("o", "t").ends_with(&format!("o.client_id LIKE '{TOKEN_PREFIX}%'")));
    }
}

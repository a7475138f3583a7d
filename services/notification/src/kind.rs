//! What a notification is about, and which kinds a user receives.

use std::collections::BTreeMap;

/// The kinds of notification: the order events Alpaca's `trade_updates` names, and a
/// conditional order's trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// An order was accepted (off unless asked for: the user just placed it).
    New,
    /// An order filled completely.
    Fill,
    /// An order filled in part.
    PartialFill,
    /// An order was canceled (by its owner, or by the engine: IOC remainder, no
    /// liquidity for a market order, self-trade prevention).
    Canceled,
    /// A day order expired at the close.
    Expired,
    /// An order was replaced.
    Replaced,
    /// An order was rejected.
    Rejected,
    /// A conditional order (stop, stop-limit, trailing stop) triggered and went to the
    /// market.
    Triggered,
    /// A price alert's symbol traded at or beyond its price.
    PriceAlert,
}

impl Kind {
    /// Every kind, in the order the API lists them.
    pub const ALL: [Kind; 9] = [
        Kind::New,
        Kind::Fill,
        Kind::PartialFill,
        Kind::Canceled,
        Kind::Expired,
        Kind::Replaced,
        Kind::Rejected,
        Kind::Triggered,
        Kind::PriceAlert,
    ];

    /// The kind's name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::New => "new",
            Kind::Fill => "fill",
            Kind::PartialFill => "partial_fill",
            Kind::Canceled => "canceled",
            Kind::Expired => "expired",
            Kind::Replaced => "replaced",
            Kind::Rejected => "rejected",
            Kind::Triggered => "triggered",
            Kind::PriceAlert => "price_alert",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether a user who never said otherwise receives this kind.
    pub fn on_by_default(self) -> bool {
        self != Kind::New
    }
}

/// A user's choices: the kinds they switched from their default. What is not here is
/// as [`Kind::on_by_default`] says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preferences {
    /// Kinds set explicitly, on or off.
    pub set: BTreeMap<Kind, bool>,
}

impl Preferences {
    /// Whether the user receives `kind`.
    pub fn wants(&self, kind: Kind) -> bool {
        self.set.get(&kind).copied().unwrap_or(kind.on_by_default())
    }

    /// Every kind with whether it is received, as the API shows them.
    pub fn all(&self) -> BTreeMap<&'static str, bool> {
        Kind::ALL
            .into_iter()
            .map(|k| (k.as_str(), self.wants(k)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_new_is_off_by_default() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            assert_eq!(k.on_by_default(), k != Kind::New);
        }
        assert_eq!(Kind::parse("fills"), None);
    }

    #[test]
    fn a_choice_overrides_the_default_and_the_rest_stay() {
        let mut p = Preferences::default();
        assert!(!p.wants(Kind::New) && p.wants(Kind::Fill));
        p.set.insert(Kind::New, true);
        p.set.insert(Kind::Fill, false);
        assert!(p.wants(Kind::New) && !p.wants(Kind::Fill) && p.wants(Kind::Canceled));
        let all = p.all();
        assert_eq!(all.len(), Kind::ALL.len());
        assert_eq!(
            (all["new"], all["fill"], all["expired"]),
            (true, false, true)
        );
    }
}

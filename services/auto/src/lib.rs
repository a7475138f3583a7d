//! # bourse-auto
//!
//! The auto service's core: [`triggers::TriggerIndex`], which holds every armed stop,
//! stop-limit and trailing stop and every price alert, and tells for each trade which
//! of them it fires, touching only those. The service around it (conditional orders
//! handed over by the trader service, recurring orders, price alerts, durable in the
//! store and restored on restart) is the rest of the automation issue.

pub mod triggers;

pub use triggers::{ArmError, Condition, Direction, Trigger, TriggerId, TriggerIndex};

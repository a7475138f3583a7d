//! # bourse-bus
//!
//! How engine events travel to the services: a topic exchange where every message has
//! a routing key (`exec.<user>`, `trade.<symbol>`, `account.<user>`,
//! `portfolio.changed.<user>`, ...) and carries the engine sequence number it is about.
//! Two implementations with one interface:
//!
//! - [`rabbit`]: RabbitMQ through lapin — a durable topic exchange, persistent
//!   messages, publisher confirms awaited per batch, durable queues with manual acks.
//! - [`memory`]: an in-process bus with the same routing, for the embedded platform.
//!
//! Delivery is at least once: a publisher that fails mid-batch publishes the batch
//! again, and consumers drop what they have seen by sequence number.
//!
//! Map: [`topic`] (AMQP topic matching), [`envelope`] (many messages in one broker
//! message, for RabbitMQ), [`rabbit`], [`memory`], [`reconnect`] (a consumer that keeps
//! itself connected, reading in batches).

pub mod envelope;
mod inflight;
pub mod memory;
pub mod rabbit;
pub mod reconnect;
pub mod topic;

/// One message on the bus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Routing key, words separated by dots.
    pub routing_key: String,
    /// The engine event sequence number this message is about (its identity: a
    /// consumer drops a sequence number it has already handled).
    pub seq: u64,
    /// For a message on a numbered stream (the bridge numbers the account stream:
    /// every event routed `exec.*` or `account.*`), the sequence number of the stream's
    /// previous event (0: none before it). A consumer that must apply the stream in
    /// order sees from it that a message came before its predecessor — a failed
    /// publisher's late tail, overtaking its successor's republication — and drops it
    /// until the copy that follows its predecessor arrives. `None`: not numbered.
    pub prev_seq: Option<u64>,
    /// The body (JSON).
    pub body: Vec<u8>,
}

/// A message received, with what it takes to acknowledge it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The message.
    pub message: Message,
    /// Acknowledge with this (acknowledging a tag acknowledges all before it too).
    pub tag: u64,
    /// The broker delivered it before (after a consumer's failure).
    pub redelivered: bool,
}

/// Errors of the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker connection or channel failed; reconnect and carry on.
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
    /// The broker refused to take responsibility for a message (a negative confirm).
    #[error("the broker did not confirm message {seq}")]
    NotConfirmed {
        /// The message's sequence number.
        seq: u64,
    },
    /// The other end is gone (in-process bus dropped, consumer cancelled).
    #[error("the bus is closed")]
    Closed,
    /// A message without a readable sequence number.
    #[error("message without a sequence number (routing key {0})")]
    NoSeq(String),
    /// A batch that cannot be packed into envelopes.
    #[error(transparent)]
    Envelope(#[from] envelope::EnvelopeError),
}

/// Publishes batches of messages durably.
pub trait Publisher {
    /// Publishes `batch` in order; returns once the bus has taken responsibility for
    /// every message in it (for RabbitMQ: all publisher confirms received). On error,
    /// any part of the batch may or may not have been published: publish it again.
    fn publish(
        &mut self,
        batch: &[Message],
    ) -> impl std::future::Future<Output = Result<(), BusError>> + Send;
}

/// Receives messages from one durable queue.
pub trait Consumer {
    /// The next message (waits for one).
    fn next(&mut self) -> impl std::future::Future<Output = Result<Delivery, BusError>> + Send;

    /// The next message if one arrives within `wait`.
    fn next_within(
        &mut self,
        wait: std::time::Duration,
    ) -> impl std::future::Future<Output = Result<Option<Delivery>, BusError>> + Send;

    /// Acknowledges the one delivery `tag`: the broker may forget it. Call only once
    /// its effects are durable.
    fn ack(&mut self, tag: u64) -> impl std::future::Future<Output = Result<(), BusError>> + Send;

    /// Acknowledges every delivery up to and including `tag`: the broker may forget
    /// them. Call only once their effects are durable.
    fn ack_upto(
        &mut self,
        tag: u64,
    ) -> impl std::future::Future<Output = Result<(), BusError>> + Send;
}

//! RabbitMQ through lapin: a durable topic exchange, persistent messages, publisher
//! confirms per batch, durable queues consumed with manual acknowledgements.
//!
//! Messages travel in [envelopes](crate::envelope): a published batch goes out as a
//! few broker messages, one stream each, routed under the stream's name; a queue is
//! bound to its patterns and to the streams they touch; a consumer unpacks, keeps the
//! messages its queue's patterns match and acknowledges an envelope to the broker once
//! every message it kept is acknowledged. A message published alone (plain JSON, by an
//! older publisher or another program) is routed by its own key and read too.
//!
//! Neither side reconnects by itself: on [`BusError::Broker`] the caller drops it and
//! connects again (the bridge and the order service do, with a back-off), which is
//! what makes their restart logic the same as their recovery from a broker restart.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::Confirmation;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, BasicRejectOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

use crate::envelope::{self, Envelope};
use crate::inflight::{BrokerAck, Inflight};
use crate::{BusError, Consumer, Delivery, Message, Publisher, topic};

/// A durable queue and what it is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSpec {
    /// Queue name.
    pub name: String,
    /// Binding patterns on the exchange (`exec.*`, `trade.#`, ...).
    pub patterns: Vec<String>,
    /// Deliver to one consumer at a time (the others wait as standbys): for consumers
    /// that must see the queue in order, like settlement.
    pub single_active_consumer: bool,
    /// A queue of one connection: not durable, exclusive, deleted when its consumer
    /// goes. For hints every instance of a service needs while it runs (the portfolio
    /// service's `portfolio.changed.*`), never for events that must not be lost.
    pub transient: bool,
}

impl QueueSpec {
    /// The settlement queue: every user's executions and account changes, in order,
    /// to one consumer at a time.
    pub fn settlement(name: &str) -> Self {
        QueueSpec {
            name: name.to_string(),
            patterns: vec!["exec.*".into(), "account.*".into()],
            single_active_consumer: true,
            transient: false,
        }
    }
}

impl QueueSpec {
    /// The market data queue: every trade and every listing, to one consumer at a time
    /// (the stock service instance that keeps trades and bars; the others stand by).
    pub fn market(name: &str) -> Self {
        QueueSpec {
            name: name.to_string(),
            patterns: vec!["trade.*".into(), "admin.add_instrument".into()],
            single_active_consumer: true,
            transient: false,
        }
    }

    /// The auto service's queue: every trade, to one consumer at a time (the auto
    /// instance that holds the trigger index; others stand by). The auto service
    /// declares it itself: trades before its first start concern no held order.
    pub fn auto(name: &str) -> Self {
        QueueSpec {
            name: name.to_string(),
            patterns: vec!["trade.*".into()],
            single_active_consumer: true,
            transient: false,
        }
    }

    /// The notification service's queue: every user's order events, to one consumer at
    /// a time (the instance that stores the notifications; others stand by). The
    /// notification service declares it itself.
    pub fn notification(name: &str) -> Self {
        QueueSpec {
            name: name.to_string(),
            patterns: vec!["exec.*".into()],
            single_active_consumer: true,
            transient: false,
        }
    }

    /// A transient queue bound with `patterns`, named `prefix` and what makes it this
    /// instance's own (the process id and the time it was made): an exclusive queue's
    /// name must be free.
    pub fn transient(prefix: &str, patterns: &[&str]) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        QueueSpec {
            name: format!("{prefix}.{}.{nanos}", std::process::id()),
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
            single_active_consumer: false,
            transient: true,
        }
    }
}

/// Where the broker is, which exchange carries the events, and the durable queues
/// that must exist before anything is published (a message no queue is bound for is
/// dropped by the broker, confirm or not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RabbitConfig {
    /// AMQP URI, e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`.
    pub uri: String,
    /// The durable topic exchange.
    pub exchange: String,
    /// Queues the publisher declares (and binds) when it connects.
    pub queues: Vec<QueueSpec>,
}

impl Default for RabbitConfig {
    fn default() -> Self {
        RabbitConfig {
            uri: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            exchange: "bourse.events".into(),
            queues: vec![
                QueueSpec::settlement("bourse.settlement"),
                QueueSpec::market("bourse.market"),
            ],
        }
    }
}

/// A connection in the making, as the services' loops take it to connect (and
/// reconnect after any failure).
pub type Connecting<T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, BusError>> + Send>>;

impl RabbitConfig {
    /// Connects a [`RabbitConsumer`] of `queue` (with about `prefetch` messages in
    /// flight) each time it is called.
    pub fn consumers(
        &self,
        queue: &QueueSpec,
        prefetch: u16,
    ) -> impl FnMut() -> Connecting<RabbitConsumer> + Send + 'static {
        let (config, queue) = (self.clone(), queue.clone());
        move || {
            let (config, queue) = (config.clone(), queue.clone());
            Box::pin(async move { RabbitConsumer::connect(&config, &queue, prefetch).await })
        }
    }

    /// Connects a [`RabbitPublisher`] each time it is called.
    pub fn publishers(&self) -> impl FnMut() -> Connecting<RabbitPublisher> + Send + 'static {
        let config = self.clone();
        move || {
            let config = config.clone();
            Box::pin(async move { RabbitPublisher::connect(&config).await })
        }
    }
}

/// Declares `queue` (durable) and binds it to the exchange.
async fn declare(channel: &Channel, exchange: &str, queue: &QueueSpec) -> Result<(), BusError> {
    let mut args = FieldTable::default();
    if queue.single_active_consumer {
        args.insert(
            "x-single-active-consumer".into(),
            lapin::types::AMQPValue::Boolean(true),
        );
    }
    let options = if queue.transient {
        QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..QueueDeclareOptions::default()
        }
    } else {
        QueueDeclareOptions::durable()
    };
    channel
        .queue_declare(queue.name.as_str().into(), options, args)
        .await?;
    // The patterns themselves (messages published alone) and their streams (envelopes).
    let mut bindings: Vec<&str> = Vec::new();
    for p in &queue.patterns {
        for b in [p.as_str(), envelope::stream_binding(p)] {
            if !bindings.contains(&b) {
                bindings.push(b);
            }
        }
    }
    for b in bindings {
        channel
            .queue_bind(
                queue.name.as_str().into(),
                exchange.into(),
                b.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

async fn open(config: &RabbitConfig) -> Result<(Connection, Channel), BusError> {
    let conn = Connection::connect(&config.uri, ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    channel
        .exchange_declare(
            config.exchange.as_str().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok((conn, channel))
}

/// Deletes the configured queues and the exchange (tear-down of a test or a
/// deployment; messages in the queues are lost).
pub async fn delete_topology(config: &RabbitConfig) -> Result<(), BusError> {
    let conn = Connection::connect(&config.uri, ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    for q in &config.queues {
        channel
            .queue_delete(
                q.name.as_str().into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await?;
    }
    channel
        .exchange_delete(
            config.exchange.as_str().into(),
            lapin::options::ExchangeDeleteOptions::default(),
        )
        .await?;
    Ok(())
}

/// Publishes persistent messages and waits for the broker's confirms.
pub struct RabbitPublisher {
    _conn: Connection,
    channel: Channel,
    exchange: String,
}

impl std::fmt::Debug for RabbitPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitPublisher")
            .field("exchange", &self.exchange)
            .finish_non_exhaustive()
    }
}

impl RabbitPublisher {
    /// Connects, declares the exchange and the configured queues, and turns publisher
    /// confirms on.
    pub async fn connect(config: &RabbitConfig) -> Result<Self, BusError> {
        let (conn, channel) = open(config).await?;
        for q in &config.queues {
            declare(&channel, &config.exchange, q).await?;
        }
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(RabbitPublisher {
            _conn: conn,
            channel,
            exchange: config.exchange.clone(),
        })
    }
}

/// The header carrying [`Message::prev_seq`] on a message published alone.
const PREV_SEQ: &str = "prev-seq";

/// The headers carrying an envelope's first and last sequence numbers.
const FIRST_SEQ: &str = "first-seq";
const LAST_SEQ: &str = "last-seq";

/// An envelope's properties as [`RabbitPublisher`] publishes it (under its stream's
/// name): persistent, its content type, its first sequence number as the message id,
/// its first and last sequence numbers in headers.
pub fn properties(e: &Envelope) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert(FIRST_SEQ.into(), AMQPValue::LongLongInt(e.first_seq as i64));
    headers.insert(LAST_SEQ.into(), AMQPValue::LongLongInt(e.last_seq as i64));
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type(envelope::CONTENT_TYPE.into())
        .with_message_id(e.first_seq.to_string().into())
        .with_headers(headers)
}

impl Publisher for RabbitPublisher {
    async fn publish(&mut self, batch: &[Message]) -> Result<(), BusError> {
        let envelopes = envelope::pack(batch)?;
        // Hand every envelope to the connection at once, then collect the confirms:
        // the broker confirms in bulk (one ack may cover many messages), so a batch
        // costs about one round trip. Each publish queues its frames synchronously on
        // its first poll, and `try_join_all` first-polls in order, so the envelopes go
        // out in batch order (settlement relies on that order).
        let sends = envelopes.iter().map(|e| {
            self.channel.basic_publish(
                self.exchange.as_str().into(),
                e.stream.as_str().into(),
                BasicPublishOptions::default(),
                &e.body,
                properties(e),
            )
        });
        let confirms: Vec<_> = futures_util::future::try_join_all(sends)
            .await?
            .into_iter()
            .zip(envelopes.iter().map(|e| e.first_seq))
            .map(|(c, seq)| (seq, c))
            .collect();
        for (seq, confirm) in confirms {
            match confirm.await? {
                Confirmation::Ack(_) => {}
                Confirmation::Nack(_) | Confirmation::NotRequested => {
                    return Err(BusError::NotConfirmed { seq });
                }
            }
        }
        Ok(())
    }
}

/// Consumes a durable queue bound to the exchange, with manual acknowledgements:
/// unpacks envelopes and hands out the messages the queue's bindings match, one by one.
pub struct RabbitConsumer {
    _conn: Connection,
    channel: Channel,
    consumer: lapin::Consumer,
    /// The queue's bindings: an envelope's messages that match none are not for it.
    patterns: Vec<String>,
    /// Messages unpacked and not yet handed out.
    ready: VecDeque<Delivery>,
    /// Envelopes not yet acknowledged to the broker.
    inflight: Inflight,
    /// Broker acknowledgements due (reused).
    due: Vec<BrokerAck>,
}

impl std::fmt::Debug for RabbitConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitConsumer").finish_non_exhaustive()
    }
}

impl RabbitConsumer {
    /// Connects, declares `queue` (durable, bound as it says), and starts consuming
    /// with about `prefetch` unacknowledged messages in flight. The broker counts
    /// envelopes, not messages: it is asked for [`envelope_prefetch`]`(prefetch)`.
    pub async fn connect(
        config: &RabbitConfig,
        queue: &QueueSpec,
        prefetch: u16,
    ) -> Result<Self, BusError> {
        let (conn, channel) = open(config).await?;
        declare(&channel, &config.exchange, queue).await?;
        channel
            .basic_qos(envelope_prefetch(prefetch), BasicQosOptions::default())
            .await?;
        let consumer = channel
            .basic_consume(
                queue.name.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok(RabbitConsumer {
            _conn: conn,
            channel,
            consumer,
            patterns: queue.patterns.clone(),
            ready: VecDeque::new(),
            inflight: Inflight::default(),
            due: Vec::new(),
        })
    }

    /// Takes in one broker delivery: its messages for this queue go to `ready`.
    async fn receive(&mut self, d: lapin::message::Delivery) -> Result<(), BusError> {
        let is_envelope = d
            .properties
            .content_type()
            .as_ref()
            .is_some_and(|t| t.as_str() == envelope::CONTENT_TYPE);
        if !is_envelope {
            let broker_tag = d.delivery_tag;
            let mut single = to_delivery(d)?;
            single.tag = self.inflight.delivered(broker_tag, 1);
            self.ready.push_back(single);
            return Ok(());
        }
        let entries = match envelope::unpack(&d.data) {
            Ok(entries) => entries,
            Err(e) => {
                // Not ours to fix, and never readable: dead-letter it (or drop it, if
                // the queue has no dead-letter exchange) rather than loop on it.
                tracing::error!(error = %e, tag = d.delivery_tag, "rejecting an unreadable envelope");
                self.channel
                    .basic_reject(d.delivery_tag, BasicRejectOptions { requeue: false })
                    .await?;
                return Ok(());
            }
        };
        let patterns = &self.patterns;
        let kept: Vec<&envelope::Entry<'_>> = entries
            .iter()
            .filter(|e| patterns.iter().any(|p| topic::matches(p, e.routing_key)))
            .collect();
        let first = self.inflight.delivered(d.delivery_tag, kept.len());
        for (i, e) in kept.into_iter().enumerate() {
            self.ready.push_back(Delivery {
                message: e.to_message(),
                tag: first + i as u64,
                redelivered: d.redelivered,
            });
        }
        // An envelope with nothing for this queue is done at once.
        self.acknowledge().await
    }

    /// Sends the broker the acknowledgements that are due.
    async fn acknowledge(&mut self) -> Result<(), BusError> {
        self.inflight.settle(&mut self.due);
        for ack in self.due.drain(..) {
            let (tag, multiple) = match ack {
                BrokerAck::Upto(t) => (t, true),
                BrokerAck::One(t) => (t, false),
            };
            self.channel
                .basic_ack(tag, BasicAckOptions { multiple })
                .await?;
        }
        Ok(())
    }
}

/// The broker prefetch, in envelopes, for about `messages` messages in flight: one
/// envelope per 64 messages (an envelope holds up to
/// [`MAX_ENTRIES`](envelope::MAX_ENTRIES); under load they are full, when quiet they hold
/// a few), and never fewer than 8.
pub fn envelope_prefetch(messages: u16) -> u16 {
    (messages / 64).max(8)
}

/// A message published alone: its sequence number is its message id, its stream
/// predecessor in the `prev-seq` header. Its tag is the broker's (the caller replaces it).
fn to_delivery(d: lapin::message::Delivery) -> Result<Delivery, BusError> {
    let routing_key = d.routing_key.to_string();
    let seq = d
        .properties
        .message_id()
        .as_ref()
        .and_then(|id| id.as_str().parse().ok())
        .ok_or_else(|| BusError::NoSeq(routing_key.clone()))?;
    let prev_seq = d
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(PREV_SEQ))
        .and_then(|v| match v {
            AMQPValue::LongLongInt(p) => u64::try_from(*p).ok(),
            _ => None,
        });
    Ok(Delivery {
        message: Message {
            routing_key,
            seq,
            prev_seq,
            body: d.data,
        },
        tag: d.delivery_tag,
        redelivered: d.redelivered,
    })
}

impl Consumer for RabbitConsumer {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        loop {
            if let Some(d) = self.ready.pop_front() {
                return Ok(d);
            }
            match self.consumer.next().await {
                Some(d) => self.receive(d?).await?,
                None => return Err(BusError::Closed),
            }
        }
    }

    async fn next_within(&mut self, wait: Duration) -> Result<Option<Delivery>, BusError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(d) = self.ready.pop_front() {
                return Ok(Some(d));
            }
            match tokio::time::timeout_at(deadline, self.consumer.next()).await {
                Ok(Some(d)) => self.receive(d?).await?,
                Ok(None) => return Err(BusError::Closed),
                Err(_) => return Ok(None),
            }
        }
    }

    async fn ack(&mut self, tag: u64) -> Result<(), BusError> {
        self.inflight.ack_one(tag);
        self.acknowledge().await
    }

    async fn ack_upto(&mut self, tag: u64) -> Result<(), BusError> {
        self.inflight.ack_upto(tag);
        self.acknowledge().await
    }
}

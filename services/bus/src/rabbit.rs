//! RabbitMQ through lapin: a durable topic exchange, persistent messages, publisher
//! confirms per batch, durable queues consumed with manual acknowledgements.
//!
//! Neither side reconnects by itself: on [`BusError::Broker`] the caller drops it and
//! connects again (the bridge and the order service do, with a back-off), which is
//! what makes their restart logic the same as their recovery from a broker restart.

use std::time::Duration;

use futures_util::StreamExt;
use lapin::Confirmation;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

use crate::{BusError, Consumer, Delivery, Message, Publisher};

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
    for p in &queue.patterns {
        channel
            .queue_bind(
                queue.name.as_str().into(),
                exchange.into(),
                p.as_str().into(),
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

/// The header carrying [`Message::prev_seq`].
const PREV_SEQ: &str = "prev-seq";

/// The properties every message carries: persistent, JSON, its sequence number as
/// the message id, and its predecessor on its stream in a header.
fn properties(m: &Message) -> BasicProperties {
    let props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_message_id(m.seq.to_string().into());
    match m.prev_seq {
        Some(prev) => {
            let mut headers = FieldTable::default();
            headers.insert(PREV_SEQ.into(), AMQPValue::LongLongInt(prev as i64));
            props.with_headers(headers)
        }
        None => props,
    }
}

impl Publisher for RabbitPublisher {
    async fn publish(&mut self, batch: &[Message]) -> Result<(), BusError> {
        // Hand the whole batch to the connection at once, then collect the confirms:
        // the broker confirms in bulk (one ack may cover many messages), so a batch
        // costs about one round trip. Each publish queues its frames synchronously on
        // its first poll, and `try_join_all` first-polls in order, so the messages go
        // out in batch order (settlement relies on that order).
        let sends = batch.iter().map(|m| {
            self.channel.basic_publish(
                self.exchange.as_str().into(),
                m.routing_key.as_str().into(),
                BasicPublishOptions::default(),
                &m.body,
                properties(m),
            )
        });
        let confirms: Vec<_> = futures_util::future::try_join_all(sends)
            .await?
            .into_iter()
            .zip(batch.iter().map(|m| m.seq))
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

/// Consumes a durable queue bound to the exchange, with manual acknowledgements.
pub struct RabbitConsumer {
    _conn: Connection,
    channel: Channel,
    consumer: lapin::Consumer,
}

impl std::fmt::Debug for RabbitConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitConsumer").finish_non_exhaustive()
    }
}

impl RabbitConsumer {
    /// Connects, declares `queue` (durable, bound as it says), and starts consuming
    /// with at most `prefetch` unacknowledged deliveries in flight.
    pub async fn connect(
        config: &RabbitConfig,
        queue: &QueueSpec,
        prefetch: u16,
    ) -> Result<Self, BusError> {
        let (conn, channel) = open(config).await?;
        declare(&channel, &config.exchange, queue).await?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
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
        })
    }
}

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
        match self.consumer.next().await {
            Some(d) => to_delivery(d?),
            None => Err(BusError::Closed),
        }
    }

    async fn next_within(&mut self, wait: Duration) -> Result<Option<Delivery>, BusError> {
        match tokio::time::timeout(wait, self.consumer.next()).await {
            Ok(Some(d)) => to_delivery(d?).map(Some),
            Ok(None) => Err(BusError::Closed),
            Err(_) => Ok(None),
        }
    }

    async fn ack(&mut self, tag: u64) -> Result<(), BusError> {
        self.channel
            .basic_ack(tag, BasicAckOptions { multiple: false })
            .await?;
        Ok(())
    }

    async fn ack_upto(&mut self, tag: u64) -> Result<(), BusError> {
        self.channel
            .basic_ack(tag, BasicAckOptions { multiple: true })
            .await?;
        Ok(())
    }
}

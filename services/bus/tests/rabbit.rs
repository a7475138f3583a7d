//! The bus against the real RabbitMQ on 127.0.0.1:5672: confirmed publication,
//! routing, manual acks, and redelivery of what was not acknowledged.

use std::time::Duration;

use bourse_bus::rabbit::{
    QueueSpec, RabbitConfig, RabbitConsumer, RabbitPublisher, delete_topology,
};
use bourse_bus::{Consumer, Message, Publisher};

/// An exchange and queue names of this run only.
fn config(name: &str) -> RabbitConfig {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    RabbitConfig {
        exchange: format!("test.{name}.{}.{nanos}", std::process::id()),
        queues: Vec::new(),
        ..RabbitConfig::default()
    }
}

fn batch(from: u64, n: u64) -> Vec<Message> {
    (from..from + n)
        .map(|seq| Message {
            routing_key: if seq % 2 == 0 {
                format!("exec.{}", seq % 5)
            } else {
                "trade.ACME".into()
            },
            seq,
            prev_seq: (seq % 3 != 0).then(|| seq - 1),
            body: format!("{{\"seq\":{seq}}}").into_bytes(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_messages_are_routed_and_unacked_ones_come_back() {
    let config = config("bus");
    let name = format!("{}.settle", config.exchange);
    let queue = QueueSpec {
        name: name.clone(),
        patterns: vec!["exec.*".into()],
        single_active_consumer: false,
        transient: false,
    };
    // The queue exists (and is bound) before anything is published.
    let mut consumer = RabbitConsumer::connect(&config, &queue, 500)
        .await
        .expect("RabbitMQ on 127.0.0.1:5672");
    let mut publisher = RabbitPublisher::connect(&config).await.unwrap();
    let mut sent = Vec::new();
    for b in 0..4 {
        let messages = batch(1 + b * 250, 250);
        publisher.publish(&messages).await.unwrap();
        sent.extend(messages);
    }
    // Half the messages are exec.*: 500 of them, in order.
    let mut got = Vec::new();
    let mut last_tag = 0;
    while got.len() < 500 {
        let d = consumer
            .next_within(Duration::from_secs(10))
            .await
            .unwrap()
            .expect("a delivery within 10 s");
        assert!(d.message.routing_key.starts_with("exec."));
        // The whole message arrives as it was sent, its stream predecessor included.
        assert_eq!(d.message, sent[d.message.seq as usize - 1]);
        got.push(d.message.seq);
        last_tag = d.tag;
        if got.len() == 300 {
            consumer.ack_upto(last_tag).await.unwrap();
        }
    }
    let expected: Vec<u64> = (1..=1000).filter(|s| s % 2 == 0).collect();
    assert_eq!(got, expected);
    assert!(last_tag > 0);
    // Drop without acknowledging the last 200. Each batch of 250 travelled as one
    // envelope (125 of its messages for this queue); the broker forgets an envelope only
    // once all its messages are acknowledged, so the third envelope comes back whole —
    // its 50 acknowledged messages too, which a consumer drops by seq — and the first
    // two, acknowledged in full, do not.
    drop(consumer);
    let mut again = RabbitConsumer::connect(&config, &queue, 500).await.unwrap();
    let mut redelivered = Vec::new();
    while let Some(d) = again.next_within(Duration::from_secs(2)).await.unwrap() {
        assert!(d.redelivered);
        redelivered.push(d.message.seq);
        again.ack_upto(d.tag).await.unwrap();
    }
    assert_eq!(redelivered, expected[250..].to_vec());
    drop(again);
    delete_topology(&RabbitConfig {
        queues: vec![queue],
        ..config
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_queue_gets_its_messages_and_goes_with_its_consumer() {
    let config = config("transient");
    let queue = QueueSpec::transient(
        &format!("{}.hints", config.exchange),
        &["portfolio.changed.*"],
    );
    let name = queue.name.clone();
    let mut consumer = RabbitConsumer::connect(&config, &queue, 10).await.unwrap();
    let mut publisher = RabbitPublisher::connect(&config).await.unwrap();
    let hint = |user: u64, seq: u64| Message {
        routing_key: format!("portfolio.changed.{user}"),
        seq,
        prev_seq: None,
        body: format!("{{\"user\":{user},\"seq\":{seq}}}").into_bytes(),
    };
    publisher
        .publish(&[hint(1, 5), batch(6, 1).remove(0), hint(2, 7)])
        .await
        .unwrap();
    let a = consumer.next().await.unwrap();
    let b = consumer.next().await.unwrap();
    assert_eq!(
        (
            a.message.routing_key.as_str(),
            b.message.routing_key.as_str()
        ),
        ("portfolio.changed.1", "portfolio.changed.2"),
        "only what the queue is bound to"
    );
    drop(consumer);
    // Exclusive and auto-deleted: once its connection is gone, the name is free and the
    // queue is gone (a passive declare fails).
    let conn = lapin::Connection::connect(&config.uri, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let mut gone = false;
    for _ in 0..50 {
        let passive = lapin::options::QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let probe = conn.create_channel().await.unwrap();
        if probe
            .queue_declare(name.as_str().into(), passive, Default::default())
            .await
            .is_err()
        {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(gone, "the transient queue outlived its consumer");
    bourse_bus::rabbit::delete_topology(&config).await.unwrap();
}

/// A new consumer of `queue` receives nothing (everything was acknowledged or set
/// aside); then `queues` and the exchange go.
async fn nothing_comes_back(config: RabbitConfig, queue: &QueueSpec, queues: Vec<QueueSpec>) {
    let mut again = RabbitConsumer::connect(&config, queue, 500).await.unwrap();
    assert_eq!(
        again.next_within(Duration::from_millis(300)).await.unwrap(),
        None
    );
    drop(again);
    delete_topology(&RabbitConfig { queues, ..config })
        .await
        .unwrap();
}

/// Publishes `body` as one raw AMQP message (what another program might send).
async fn publish_raw(config: &RabbitConfig, key: &str, props: lapin::BasicProperties, body: &[u8]) {
    let conn = lapin::Connection::connect(&config.uri, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .confirm_select(lapin::options::ConfirmSelectOptions::default())
        .await
        .unwrap();
    let confirm = channel
        .basic_publish(
            config.exchange.as_str().into(),
            key.into(),
            lapin::options::BasicPublishOptions::default(),
            body,
            props,
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_reach_every_queue_bound_to_their_stream_and_each_keeps_its_part() {
    let config = config("routing");
    let spec = |suffix: &str, patterns: &[&str]| QueueSpec {
        name: format!("{}.{suffix}", config.exchange),
        patterns: patterns.iter().map(|p| p.to_string()).collect(),
        single_active_consumer: false,
        transient: false,
    };
    let queues = [
        spec("user3", &["exec.3"]),
        spec("trades", &["trade.*"]),
        spec("nobody", &["account.*"]),
    ];
    let mut consumers = Vec::new();
    for q in &queues {
        consumers.push(RabbitConsumer::connect(&config, q, 500).await.unwrap());
    }
    let mut publisher = RabbitPublisher::connect(&config).await.unwrap();
    // 40 messages: exec.0 … exec.4 (the account stream) and trade.ACME (the market
    // stream), two envelopes.
    let sent = batch(1, 40);
    publisher.publish(&sent).await.unwrap();
    let mut got: Vec<Vec<Message>> = Vec::new();
    for c in &mut consumers {
        let mut mine = Vec::new();
        while let Some(d) = c.next_within(Duration::from_millis(500)).await.unwrap() {
            c.ack_upto(d.tag).await.unwrap();
            mine.push(d.message);
        }
        got.push(mine);
    }
    let only = |f: &dyn Fn(&Message) -> bool| -> Vec<Message> {
        sent.iter().filter(|m| f(m)).cloned().collect()
    };
    assert_eq!(got[0], only(&|m| m.routing_key == "exec.3"));
    assert_eq!(got[0].len(), 4);
    assert_eq!(got[1], only(&|m| m.routing_key == "trade.ACME"));
    assert_eq!(got[1].len(), 20);
    // Bound to the account stream, it receives the account envelope, and none of its
    // messages is an account.* one.
    assert!(got[2].is_empty(), "nothing it is bound to");
    // Acknowledged in full: nothing comes back to a new consumer.
    drop(consumers);
    nothing_comes_back(config, &queues[1], queues.to_vec()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_messages_are_read_and_a_damaged_envelope_is_set_aside() {
    let config = config("foreign");
    let queue = QueueSpec {
        name: format!("{}.q", config.exchange),
        patterns: vec!["exec.*".into()],
        single_active_consumer: false,
        transient: false,
    };
    let mut consumer = RabbitConsumer::connect(&config, &queue, 500).await.unwrap();
    // A damaged envelope, then a message published alone as JSON (an older bridge's
    // format), then a good envelope.
    let envelope = lapin::BasicProperties::default()
        .with_content_type(bourse_bus::envelope::CONTENT_TYPE.into());
    publish_raw(&config, "exec.1", envelope, b"BEV1\x05\x00\x00\x00junk").await;
    let mut headers = lapin::types::FieldTable::default();
    headers.insert("prev-seq".into(), lapin::types::AMQPValue::LongLongInt(6));
    let plain = lapin::BasicProperties::default()
        .with_content_type("application/json".into())
        .with_message_id("7".into())
        .with_headers(headers);
    publish_raw(&config, "exec.2", plain, br#"{"seq":7}"#).await;
    let mut publisher = RabbitPublisher::connect(&config).await.unwrap();
    let next = batch(8, 2);
    publisher.publish(&next).await.unwrap();
    let a = consumer
        .next_within(Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        a.message,
        Message {
            routing_key: "exec.2".into(),
            seq: 7,
            prev_seq: Some(6),
            body: br#"{"seq":7}"#.to_vec(),
        }
    );
    let b = consumer
        .next_within(Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.message, next[0], "exec.3 of seq 8; seq 9 is trade.ACME");
    consumer.ack_upto(b.tag).await.unwrap();
    // Everything acknowledged or set aside: nothing comes back.
    drop(consumer);
    nothing_comes_back(config, &queue, vec![queue.clone()]).await;
}

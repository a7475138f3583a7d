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
    // Drop without acknowledging the last 200: they come back to the next consumer,
    // marked redelivered, and nothing acknowledged does.
    drop(consumer);
    let mut again = RabbitConsumer::connect(&config, &queue, 500).await.unwrap();
    let mut redelivered = Vec::new();
    while let Some(d) = again.next_within(Duration::from_secs(2)).await.unwrap() {
        assert!(d.redelivered);
        redelivered.push(d.message.seq);
        again.ack_upto(d.tag).await.unwrap();
    }
    assert_eq!(redelivered, expected[300..].to_vec());
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

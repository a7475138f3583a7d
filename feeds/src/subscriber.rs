//! Reading the feed as a subscriber: one message at a time from a ZeroMQ SUB socket
//! (two frames, the topic and the JSON body).

use crate::MarketData;

/// What one read of a SUB socket gave.
#[derive(Debug)]
pub enum Received {
    /// A market data message.
    Message(MarketData),
    /// Nothing within the socket's receive timeout, or a frame that is not a market
    /// data message (skipped).
    Nothing,
    /// The socket failed (closed, or its context ended): stop reading.
    Failed(zmq::Error),
}

/// Reads one message, waiting at most the socket's receive timeout.
pub fn receive(sub: &zmq::Socket) -> Received {
    match sub.recv_multipart(0) {
        Ok(parts) => match parts
            .last()
            .map(|b| serde_json::from_slice::<MarketData>(b))
        {
            Some(Ok(m)) => Received::Message(m),
            _ => Received::Nothing,
        },
        Err(zmq::Error::EAGAIN) => Received::Nothing,
        Err(e) => Received::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publisher::{MarketDataSink, ZmqPublisher};

    #[test]
    fn a_subscriber_reads_messages_and_skips_what_it_cannot() {
        let ctx = zmq::Context::new();
        let mut publisher = ZmqPublisher::bind(&ctx, "tcp://127.0.0.1:*").unwrap();
        let sub = ctx.socket(zmq::SUB).unwrap();
        sub.set_rcvtimeo(100).unwrap();
        sub.set_subscribe(b"").unwrap();
        sub.connect(publisher.endpoint()).unwrap();
        let trade = MarketData::Trade {
            symbol: "ACME".into(),
            event_seq: 1,
            price: 100,
            qty: 1,
            taker_side: "buy".into(),
            time_ms: 0,
        };
        // A subscription takes a moment to reach the publisher: publish until heard.
        let mut heard = None;
        for _ in 0..50 {
            publisher.publish(&trade);
            if let Received::Message(m) = receive(&sub) {
                heard = Some(m);
                break;
            }
        }
        assert_eq!(heard, Some(trade));
        assert!(matches!(
            receive(&sub),
            Received::Message(_) | Received::Nothing
        ));
    }
}

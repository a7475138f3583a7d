//! Publishing market data: a ZeroMQ PUB socket, and an in-process sink for tests and
//! the embedded platform.

use crate::message::MarketData;

/// Where market data goes.
pub trait MarketDataSink {
    /// Publishes one message.
    fn publish(&mut self, msg: &MarketData);
}

/// Collects messages in memory.
impl MarketDataSink for Vec<MarketData> {
    fn publish(&mut self, msg: &MarketData) {
        self.push(msg.clone());
    }
}

/// A ZeroMQ PUB socket: each message is two frames, the topic (`<SYMBOL>.<channel>`,
/// see [`MarketData::topic`]) and the JSON body. Subscribers filter by topic prefix.
pub struct ZmqPublisher {
    socket: zmq::Socket,
    endpoint: String,
}

impl ZmqPublisher {
    /// Binds a PUB socket on `endpoint` (`tcp://127.0.0.1:*` picks a port).
    pub fn bind(ctx: &zmq::Context, endpoint: &str) -> Result<Self, zmq::Error> {
        let socket = ctx.socket(zmq::PUB)?;
        socket.set_linger(0)?;
        socket.set_sndhwm(1_000_000)?;
        socket.bind(endpoint)?;
        let endpoint = socket
            .get_last_endpoint()?
            .unwrap_or_else(|_| endpoint.to_string());
        Ok(ZmqPublisher { socket, endpoint })
    }

    /// The endpoint actually bound.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl MarketDataSink for ZmqPublisher {
    fn publish(&mut self, msg: &MarketData) {
        // PUB never blocks: a subscriber too slow for its high-water mark loses
        // messages, sees the gap in `seq` and resynchronizes from a snapshot.
        let _ = self
            .socket
            .send(msg.topic().as_bytes(), zmq::SNDMORE | zmq::DONTWAIT)
            .and_then(|()| self.socket.send(msg.to_json().as_bytes(), zmq::DONTWAIT));
    }
}

//! Envelopes: many bus messages in one broker message.
//!
//! A broker's cost is per message far more than per byte: RabbitMQ persists and confirms
//! ~20K small messages a second on this project's 2-core reference machine whatever
//! their size, so one message per event caps the bus there. The RabbitMQ publisher
//! therefore packs each published batch into envelopes of up to [`MAX_ENTRIES`]
//! messages ([`MAX_BYTES`] of bodies), and the consumer unpacks them: both sides of
//! the [`Publisher`](crate::Publisher) and [`Consumer`](crate::Consumer) interfaces
//! still see single [`Message`]s, with their own routing keys and sequence numbers.
//!
//! # Streams
//! An envelope holds the messages of one **stream** ([`stream_of`]), in order, and is
//! routed under the stream's name: `account` (keys `exec.*` and `account.*`: what
//! settlement applies, in order), `market` (`trade.*` and `admin.*`: trades and
//! listings, in order) or, for any other key, its first word (`portfolio`,
//! `notification`). A queue is bound to the streams its patterns touch, and its consumer
//! keeps only the messages its patterns match. The broker thus filters by stream, not by
//! user or symbol: routing each envelope under every key of its messages (RabbitMQ's
//! `BCC` header) costs the broker per key, and an envelope of a busy batch names
//! hundreds of users (`PERF.md` has the figures). The services read whole streams
//! anyway and fan out by user or symbol in memory.
//!
//! # Wire format (documented for consumers in `docs/events.md`)
//! Little-endian throughout:
//!
//! ```text
//! envelope = "BEV1" count:u32 entry{count}
//! entry    = key_len:u8 key:[u8; key_len] seq:u64 prev_seq:u64 body_len:u32 body:[u8; body_len]
//! ```
//!
//! `prev_seq` is `u64::MAX` for a message that has none; `body_len` is `u32::MAX` for
//! "the same body as the entry before, repeated" (a trade goes to its maker's, its
//! taker's and its symbol's key with one body), and then no body bytes follow.

use crate::Message;

/// The AMQP content type of an envelope.
pub const CONTENT_TYPE: &str = "application/vnd.bourse.envelope";

/// The most messages one envelope carries.
pub const MAX_ENTRIES: usize = 1_024;

/// An envelope is closed once its bodies reach this many bytes.
pub const MAX_BYTES: usize = 1 << 20;

/// The envelope's first four bytes.
const MAGIC: &[u8; 4] = b"BEV1";

/// `prev_seq` of a message without one.
const NO_PREV: u64 = u64::MAX;

/// `body_len` of a body repeated from the entry before.
const REPEATED: u32 = u32::MAX;

/// Bytes of an entry besides its key and body.
const ENTRY_FIXED: usize = 1 + 8 + 8 + 4;

/// Why an envelope cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// It does not start with the envelope's magic bytes.
    #[error("not an envelope (bad magic)")]
    BadMagic,
    /// It ends inside an entry, or holds bytes after its last entry.
    #[error("envelope length does not match its entries (at byte {0})")]
    BadLength(usize),
    /// A routing key that is not UTF-8.
    #[error("routing key of entry {0} is not UTF-8")]
    BadKey(usize),
    /// The first entry says "same body as before".
    #[error("entry {0} repeats the body of an entry that does not exist")]
    NothingToRepeat(usize),
    /// A message too big for an entry (a routing key over 255 bytes or a body of 4 GiB).
    #[error("message {0} does not fit an envelope entry")]
    TooBig(u64),
}

/// The stream a routing key travels in: `account` for `exec.…` and `account.…`,
/// `market` for `trade.…` and `admin.…`, otherwise the key's first word.
pub fn stream_of(routing_key: &str) -> &str {
    let first = routing_key.split('.').next().unwrap_or(routing_key);
    match first {
        "exec" | "account" => "account",
        "trade" | "admin" => "market",
        other => other,
    }
}

/// The broker binding that brings a queue bound to `pattern` every envelope it may
/// need: its stream's name, or `#` (every envelope) when the pattern's first word is a
/// wildcard.
pub fn stream_binding(pattern: &str) -> &str {
    match pattern.split('.').next() {
        Some("*" | "#") | None => "#",
        Some(_) => stream_of(pattern),
    }
}

/// A packed envelope, ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The stream of its messages: its routing key.
    pub stream: String,
    /// The sequence number of its first message.
    pub first_seq: u64,
    /// The sequence number of its last message.
    pub last_seq: u64,
    /// How many messages it carries.
    pub count: usize,
    /// The encoded envelope.
    pub body: Vec<u8>,
}

/// Packs `batch` into envelopes, one stream each, as few as the limits allow; each
/// stream's messages keep their order, and the envelopes come out in the order of their
/// first messages.
pub fn pack(batch: &[Message]) -> Result<Vec<Envelope>, EnvelopeError> {
    // Streams are few: (stream, its messages so far, their body bytes).
    let mut open: Vec<(&str, Vec<&Message>, usize)> = Vec::new();
    let mut out = Vec::new();
    for m in batch {
        let stream = stream_of(&m.routing_key);
        let i = match open.iter().position(|(s, _, _)| *s == stream) {
            Some(i) => i,
            None => {
                open.push((stream, Vec::new(), 0));
                open.len() - 1
            }
        };
        let (_, messages, bytes) = &mut open[i];
        messages.push(m);
        *bytes += m.body.len();
        if messages.len() == MAX_ENTRIES || *bytes >= MAX_BYTES {
            out.push(pack_one(stream, messages)?);
            messages.clear();
            *bytes = 0;
        }
    }
    for (stream, messages, _) in &open {
        if !messages.is_empty() {
            out.push(pack_one(stream, messages)?);
        }
    }
    out.sort_by_key(|e| e.first_seq);
    Ok(out)
}

fn pack_one(stream: &str, messages: &[&Message]) -> Result<Envelope, EnvelopeError> {
    let size: usize = messages
        .iter()
        .map(|m| ENTRY_FIXED + m.routing_key.len() + m.body.len())
        .sum();
    let mut body = Vec::with_capacity(8 + size);
    body.extend_from_slice(MAGIC);
    let count = u32::try_from(messages.len()).map_err(|_| EnvelopeError::TooBig(0))?;
    body.extend_from_slice(&count.to_le_bytes());
    let mut previous: Option<&[u8]> = None;
    for m in messages {
        let key_len =
            u8::try_from(m.routing_key.len()).map_err(|_| EnvelopeError::TooBig(m.seq))?;
        body.push(key_len);
        body.extend_from_slice(m.routing_key.as_bytes());
        body.extend_from_slice(&m.seq.to_le_bytes());
        body.extend_from_slice(&m.prev_seq.unwrap_or(NO_PREV).to_le_bytes());
        if previous == Some(m.body.as_slice()) {
            body.extend_from_slice(&REPEATED.to_le_bytes());
        } else {
            let len = u32::try_from(m.body.len())
                .ok()
                .filter(|&l| l != REPEATED)
                .ok_or(EnvelopeError::TooBig(m.seq))?;
            body.extend_from_slice(&len.to_le_bytes());
            body.extend_from_slice(&m.body);
        }
        previous = Some(&m.body);
    }
    Ok(Envelope {
        stream: stream.to_string(),
        first_seq: messages.first().map_or(0, |m| m.seq),
        last_seq: messages.last().map_or(0, |m| m.seq),
        count: messages.len(),
        body,
    })
}

/// One message read from an envelope, borrowing the envelope's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Its routing key.
    pub routing_key: &'a str,
    /// Its sequence number.
    pub seq: u64,
    /// Its stream predecessor ([`Message::prev_seq`]).
    pub prev_seq: Option<u64>,
    /// Its body.
    pub body: &'a [u8],
}

impl Entry<'_> {
    /// The message, owned.
    pub fn to_message(&self) -> Message {
        Message {
            routing_key: self.routing_key.to_string(),
            seq: self.seq,
            prev_seq: self.prev_seq,
            body: self.body.to_vec(),
        }
    }
}

/// Reads every entry of an envelope, checking the whole of it first: an envelope is
/// taken whole or not at all.
pub fn unpack(envelope: &[u8]) -> Result<Vec<Entry<'_>>, EnvelopeError> {
    let rest = envelope
        .strip_prefix(MAGIC)
        .ok_or(EnvelopeError::BadMagic)?;
    let mut r = Reader {
        bytes: rest,
        at: MAGIC.len(),
    };
    let count = r.u32()? as usize;
    // Every entry takes at least ENTRY_FIXED bytes: a count beyond that is a lie, and
    // must not size an allocation.
    if count > rest.len() / ENTRY_FIXED {
        return Err(EnvelopeError::BadLength(r.at));
    }
    let mut out = Vec::with_capacity(count);
    let mut previous: Option<&[u8]> = None;
    for i in 0..count {
        let key_len = r.take(1)?[0] as usize;
        let routing_key =
            std::str::from_utf8(r.take(key_len)?).map_err(|_| EnvelopeError::BadKey(i))?;
        let seq = r.u64()?;
        let prev_seq = Some(r.u64()?).filter(|&p| p != NO_PREV);
        let body = match r.u32()? {
            REPEATED => previous.ok_or(EnvelopeError::NothingToRepeat(i))?,
            len => r.take(len as usize)?,
        };
        previous = Some(body);
        out.push(Entry {
            routing_key,
            seq,
            prev_seq,
            body,
        });
    }
    if !r.bytes.is_empty() {
        return Err(EnvelopeError::BadLength(r.at));
    }
    Ok(out)
}

/// A cursor over an envelope's bytes that tells where it ran out.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EnvelopeError> {
        if n > self.bytes.len() {
            return Err(EnvelopeError::BadLength(self.at + self.bytes.len()));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        self.at += n;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, EnvelopeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, EnvelopeError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message of `envelopes`, in order.
    fn unpack_all(envelopes: &[Envelope]) -> Vec<Message> {
        envelopes
            .iter()
            .flat_map(|e| {
                unpack(&e.body)
                    .unwrap()
                    .iter()
                    .map(Entry::to_message)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn message(key: &str, seq: u64, prev: Option<u64>, body: &str) -> Message {
        Message {
            routing_key: key.into(),
            seq,
            prev_seq: prev,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_batch_comes_back_as_it_went_in() {
        let trade = r#"{"event":"trade","seq":2}"#;
        let batch = vec![
            message("exec.1", 1, Some(0), r#"{"event":"accepted","seq":1}"#),
            message("exec.1", 2, Some(1), trade),
            message("exec.2", 2, Some(1), trade),
            message("trade.ACME", 2, Some(1), trade),
            message("admin.end_of_day", 3, None, ""),
        ];
        let envelopes = pack(&batch).unwrap();
        // Two streams: the account stream (the executions) and the market stream.
        let streams: Vec<(&str, u64, u64, usize)> = envelopes
            .iter()
            .map(|e| (e.stream.as_str(), e.first_seq, e.last_seq, e.count))
            .collect();
        assert_eq!(streams, [("account", 1, 2, 3), ("market", 2, 3, 2)]);
        // The trade's body is written once for its maker's and taker's keys.
        let fixed: usize = batch[..3]
            .iter()
            .map(|m| ENTRY_FIXED + m.routing_key.len())
            .sum();
        let bodies = batch[0].body.len() + trade.len();
        assert_eq!(envelopes[0].body.len(), 8 + fixed + bodies);
        let back = unpack_all(&envelopes);
        assert_eq!(
            back, batch,
            "each stream in order; here the streams do not interleave"
        );
    }

    #[test]
    fn keys_travel_in_their_streams_and_queues_bind_to_streams() {
        assert_eq!(stream_of("exec.7"), "account");
        assert_eq!(stream_of("account.7"), "account");
        assert_eq!(stream_of("trade.ACME"), "market");
        assert_eq!(stream_of("admin.add_instrument"), "market");
        assert_eq!(stream_of("portfolio.changed.7"), "portfolio");
        assert_eq!(stream_of("notification.7"), "notification");
        assert_eq!(stream_binding("exec.*"), "account");
        assert_eq!(stream_binding("admin.add_instrument"), "market");
        assert_eq!(stream_binding("portfolio.changed.*"), "portfolio");
        assert_eq!(stream_binding("#"), "#");
        assert_eq!(stream_binding("*.changed.*"), "#");
    }

    #[test]
    fn big_batches_split_at_the_limits_and_keep_their_order() {
        let batch: Vec<Message> = (1..=2_500)
            .map(|s| {
                message(
                    &format!("exec.{}", s % 7),
                    s,
                    None,
                    &format!("{{\"seq\":{s}}}"),
                )
            })
            .collect();
        let envelopes = pack(&batch).unwrap();
        assert_eq!(
            envelopes.iter().map(|e| e.count).collect::<Vec<_>>(),
            [1_024, 1_024, 452]
        );
        assert_eq!(envelopes[1].first_seq, 1_025);
        let back = unpack_all(&envelopes);
        assert_eq!(back, batch);
        // Interleaved streams: each comes out whole and in its own order.
        let mixed: Vec<Message> = (1..=3_000)
            .map(|s| message(if s % 3 == 0 { "trade.X" } else { "exec.1" }, s, None, "{}"))
            .collect();
        let envelopes = pack(&mixed).unwrap();
        for stream in ["account", "market"] {
            let got: Vec<u64> = envelopes
                .iter()
                .filter(|e| e.stream == stream)
                .flat_map(|e| {
                    unpack(&e.body)
                        .unwrap()
                        .iter()
                        .map(|x| x.seq)
                        .collect::<Vec<_>>()
                })
                .collect();
            let want: Vec<u64> = mixed
                .iter()
                .filter(|m| stream_of(&m.routing_key) == stream)
                .map(|m| m.seq)
                .collect();
            assert_eq!(got, want, "the {stream} stream");
        }
        assert!(
            envelopes
                .windows(2)
                .all(|w| w[0].first_seq <= w[1].first_seq)
        );
        // Large bodies close an envelope early.
        let big = "x".repeat(300_000);
        let batch: Vec<Message> = (1..=8).map(|s| message("exec.1", s, None, &big)).collect();
        assert_eq!(
            pack(&batch)
                .unwrap()
                .iter()
                .map(|e| e.count)
                .collect::<Vec<_>>(),
            [4, 4]
        );
    }

    #[test]
    fn damaged_envelopes_are_refused_whole() {
        let batch = vec![
            message("exec.1", 1, Some(0), "{}"),
            message("exec.1", 2, Some(1), "{}"),
        ];
        let good = pack(&batch).unwrap().remove(0).body;
        assert_eq!(unpack(b"JSON{}"), Err(EnvelopeError::BadMagic));
        for cut in 4..good.len() {
            assert!(
                unpack(&good[..cut]).is_err(),
                "an envelope cut at {cut} of {} bytes",
                good.len()
            );
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(matches!(unpack(&longer), Err(EnvelopeError::BadLength(_))));
        // A count no body could hold does not allocate for it.
        let mut lying = good.clone();
        lying[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(unpack(&lying), Err(EnvelopeError::BadLength(_))));
        // The first entry cannot repeat anything.
        let mut repeat = good;
        let body_len_at = 8 + 1 + "exec.1".len() + 16;
        repeat[body_len_at..body_len_at + 4].copy_from_slice(&REPEATED.to_le_bytes());
        assert!(unpack(&repeat).is_err());
        let key = "k".repeat(256);
        assert_eq!(
            pack(&[message(&key, 9, None, "{}")]),
            Err(EnvelopeError::TooBig(9))
        );
    }
}

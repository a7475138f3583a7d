//! The binary order-entry protocol, version 1 (`docs/protocol.md` is the specification).
//!
//! Fixed-layout, little-endian messages, one per ZeroMQ frame: a 4-byte header
//! (`version: u8`, `type: u8`, `length: u16` = the whole message) then a body whose size
//! the type fixes. Strings are ASCII, left-aligned, zero-padded. Decoding checks the
//! header, the exact length for the type, and every enumerated field; it never panics,
//! and a refusal carries the [`RejectReason`] to send back and the client's order token
//! when the frame was long enough to hold one.

use bourse_core::{
    AdminOp, CancelReason, ClientOrderId, FixedStr, OrderType, Price, Qty, RejectReason, Side,
    Symbol, TimeInForce, UserId,
};

/// The protocol version this gateway speaks.
pub const VERSION: u8 = 1;
/// Bytes of the header.
pub const HEADER: usize = 4;

/// Message type bytes.
pub mod kind {
    /// Client: login.
    pub const LOGIN: u8 = b'L';
    /// Client: enter an order.
    pub const ENTER: u8 = b'O';
    /// Client: cancel an order.
    pub const CANCEL: u8 = b'X';
    /// Client: replace an order.
    pub const REPLACE: u8 = b'U';
    /// Both ways: heartbeat.
    pub const HEARTBEAT: u8 = b'H';
    /// Gateway: login accepted.
    pub const LOGIN_ACCEPTED: u8 = b'a';
    /// Gateway: login rejected.
    pub const LOGIN_REJECTED: u8 = b'r';
    /// Gateway: order accepted.
    pub const ACCEPTED: u8 = b'A';
    /// Gateway: message rejected.
    pub const REJECTED: u8 = b'J';
    /// Gateway: order executed (a fill).
    pub const EXECUTED: u8 = b'E';
    /// Gateway: order canceled.
    pub const CANCELED: u8 = b'C';
    /// Gateway: order replaced.
    pub const REPLACED: u8 = b'R';
    /// Service: enter an order for a user.
    pub const ENTER_FOR: u8 = b'o';
    /// Service: cancel a user's order.
    pub const CANCEL_FOR: u8 = b'x';
    /// Service: replace a user's order.
    pub const REPLACE_FOR: u8 = b'u';
    /// Service: open an engine account.
    pub const ADD_USER: u8 = b'N';
    /// Service: credit cash or shares.
    pub const DEPOSIT: u8 = b'D';
    /// Service: debit free cash or shares.
    pub const WITHDRAW: u8 = b'W';
    /// Service: list an instrument.
    pub const ADD_INSTRUMENT: u8 = b'I';
    /// Service: end the trading day (every DAY order expires).
    pub const END_OF_DAY: u8 = b'Y';
    /// Gateway → service: an admin command is done (only inside `FOR`).
    pub const DONE: u8 = b'K';
    /// Gateway → service: a report about a service request (variable length).
    pub const FOR: u8 = b'F';

    /// Whether `k` is a service request (the types a service session may send beyond
    /// an ordinary client's).
    pub fn is_service(k: u8) -> bool {
        matches!(
            k,
            ENTER_FOR
                | CANCEL_FOR
                | REPLACE_FOR
                | ADD_USER
                | DEPOSIT
                | WITHDRAW
                | ADD_INSTRUMENT
                | END_OF_DAY
        )
    }
}

/// A request of a service session: it acts for any user, and runs admin commands.
/// Refused (`not_privileged`) to a session whose key is not a service key. Every
/// request carries a number the service chooses; every report about it comes back in
/// a [`kind::FOR`] envelope with that number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceMsg {
    /// Enter an order for `user`.
    EnterFor {
        /// The service's request number.
        request: u64,
        /// For whom.
        user: UserId,
        /// The order.
        order: EnterOrder,
    },
    /// Cancel `user`'s order.
    CancelFor {
        /// The service's request number.
        request: u64,
        /// For whom.
        user: UserId,
        /// Its token.
        token: ClientOrderId,
    },
    /// Replace `user`'s order.
    ReplaceFor {
        /// The service's request number.
        request: u64,
        /// For whom.
        user: UserId,
        /// Its token.
        token: ClientOrderId,
        /// Its token from now on.
        new_token: ClientOrderId,
        /// New price.
        price: Price,
        /// New total quantity.
        qty: Qty,
    },
    /// Open an engine account.
    AddUser {
        /// The service's request number.
        request: u64,
        /// The new account.
        user: UserId,
    },
    /// Credit `amount` of `asset` (`USD` or a symbol).
    Deposit {
        /// The service's request number.
        request: u64,
        /// Whose account.
        user: UserId,
        /// `USD` or a symbol.
        asset: FixedStr,
        /// How much (minor units or shares).
        amount: i64,
    },
    /// Debit `amount` of free `asset`.
    Withdraw {
        /// The service's request number.
        request: u64,
        /// Whose account.
        user: UserId,
        /// `USD` or a symbol.
        asset: FixedStr,
        /// How much.
        amount: i64,
    },
    /// List an instrument.
    AddInstrument {
        /// The service's request number.
        request: u64,
        /// Ticker.
        symbol: Symbol,
        /// Price increment.
        tick: Price,
        /// Quantity increment.
        lot: Qty,
    },
    /// End the trading day: every resting DAY order expires (`Canceled`, reason
    /// `expired`, to its owner), then `Done`.
    EndOfDay {
        /// The service's request number.
        request: u64,
    },
}

impl ServiceMsg {
    /// The same request under number `request`.
    pub fn with_request(mut self, n: u64) -> Self {
        match &mut self {
            ServiceMsg::EnterFor { request, .. }
            | ServiceMsg::CancelFor { request, .. }
            | ServiceMsg::ReplaceFor { request, .. }
            | ServiceMsg::AddUser { request, .. }
            | ServiceMsg::Deposit { request, .. }
            | ServiceMsg::Withdraw { request, .. }
            | ServiceMsg::AddInstrument { request, .. }
            | ServiceMsg::EndOfDay { request } => *request = n,
        }
        self
    }

    /// The service's request number.
    pub fn request(&self) -> u64 {
        match *self {
            ServiceMsg::EnterFor { request, .. }
            | ServiceMsg::CancelFor { request, .. }
            | ServiceMsg::ReplaceFor { request, .. }
            | ServiceMsg::AddUser { request, .. }
            | ServiceMsg::Deposit { request, .. }
            | ServiceMsg::Withdraw { request, .. }
            | ServiceMsg::AddInstrument { request, .. }
            | ServiceMsg::EndOfDay { request } => request,
        }
    }

    /// The user it acts for (0 for the exchange-wide commands: listing, end of day).
    pub fn user(&self) -> UserId {
        match *self {
            ServiceMsg::EnterFor { user, .. }
            | ServiceMsg::CancelFor { user, .. }
            | ServiceMsg::ReplaceFor { user, .. }
            | ServiceMsg::AddUser { user, .. }
            | ServiceMsg::Deposit { user, .. }
            | ServiceMsg::Withdraw { user, .. } => user,
            ServiceMsg::AddInstrument { .. } | ServiceMsg::EndOfDay { .. } => UserId(0),
        }
    }
}

/// A report about a service request: the [`kind::FOR`] envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForRequest {
    /// The service's request number.
    pub request: u64,
    /// The user the report is about.
    pub user: u64,
    /// The last report about this request.
    pub last: bool,
    /// The report.
    pub msg: ServerMsg,
}

/// The code of an admin operation on the wire.
pub fn admin_op_code(op: AdminOp) -> u8 {
    match op {
        AdminOp::AddInstrument => 1,
        AdminOp::AddUser => 2,
        AdminOp::Deposit => 3,
        AdminOp::Withdraw => 4,
        AdminOp::SetLimits => 5,
        AdminOp::EndOfDay => 6,
    }
}

fn admin_op(code: u8) -> Option<AdminOp> {
    Some(match code {
        1 => AdminOp::AddInstrument,
        2 => AdminOp::AddUser,
        3 => AdminOp::Deposit,
        4 => AdminOp::Withdraw,
        5 => AdminOp::SetLimits,
        6 => AdminOp::EndOfDay,
        _ => return None,
    })
}

/// An order as the client enters it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnterOrder {
    /// The client's order token (its order id).
    pub token: ClientOrderId,
    /// The instrument.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: Side,
    /// Limit or market.
    pub order_type: OrderType,
    /// Time in force.
    pub tif: TimeInForce,
    /// Post-only.
    pub post_only: bool,
    /// Limit price in minor units (ignored for market orders).
    pub price: Price,
    /// Quantity.
    pub qty: Qty,
}

/// Client → gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientMsg {
    /// Authenticate the session with an API key.
    Login {
        /// API key id.
        key_id: FixedStr,
        /// API key secret (32 bytes).
        secret: [u8; 32],
    },
    /// Enter an order.
    Enter(EnterOrder),
    /// Cancel an open order.
    Cancel {
        /// Its token.
        token: ClientOrderId,
    },
    /// Replace an open order.
    Replace {
        /// Its token.
        token: ClientOrderId,
        /// Its token from now on.
        new_token: ClientOrderId,
        /// New price.
        price: Price,
        /// New total quantity.
        qty: Qty,
    },
    /// Keep-alive.
    Heartbeat,
    /// A service session's request.
    Service(ServiceMsg),
}

/// Whether a fill added or removed liquidity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liquidity {
    /// The order was resting (maker).
    Added,
    /// The order was incoming (taker).
    Removed,
}

/// Gateway → client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerMsg {
    /// Login succeeded.
    LoginAccepted {
        /// The user the key belongs to.
        user: u64,
    },
    /// Login failed.
    LoginRejected {
        /// Why.
        reason: RejectReason,
    },
    /// The order passed every check (sent once durable).
    Accepted {
        /// The order as entered.
        order: EnterOrder,
        /// Engine sequence number of the event.
        seq: u64,
    },
    /// A message was refused.
    Rejected {
        /// The order token, if the message carried one.
        token: Option<ClientOrderId>,
        /// Why.
        reason: RejectReason,
        /// Engine sequence number, or 0 when the gateway refused it before the engine.
        seq: u64,
    },
    /// A fill.
    Executed {
        /// The order.
        token: ClientOrderId,
        /// Execution id: the engine sequence number of the trade.
        exec_id: u64,
        /// Price.
        price: Price,
        /// Quantity filled.
        qty: Qty,
        /// Quantity still open.
        leaves: Qty,
        /// Maker or taker.
        liquidity: Liquidity,
    },
    /// The order (or its rest) left the book or never rested.
    Canceled {
        /// The order.
        token: ClientOrderId,
        /// Quantity that was still open.
        qty: Qty,
        /// Why.
        reason: CancelReason,
        /// Engine sequence number.
        seq: u64,
    },
    /// The order was replaced.
    Replaced {
        /// Old token.
        token: ClientOrderId,
        /// New token.
        new_token: ClientOrderId,
        /// New price.
        price: Price,
        /// New total quantity.
        qty: Qty,
        /// Engine sequence number.
        seq: u64,
    },
    /// Keep-alive.
    Heartbeat,
    /// An admin command was done (only inside a [`ForRequest`]).
    Done {
        /// Which command.
        op: AdminOp,
        /// The account it was about (0: none).
        user: u64,
        /// Engine sequence number.
        seq: u64,
    },
}

/// Why a frame was refused, and the token to quote back if one could be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The reason code.
    pub reason: RejectReason,
    /// The order token, when the frame held a readable one.
    pub token: Option<ClientOrderId>,
}

fn refuse(reason: RejectReason) -> Refusal {
    Refusal {
        reason,
        token: None,
    }
}

/// The total length of a message of this type, if the type is known.
pub fn message_len(kind: u8) -> Option<usize> {
    Some(match kind {
        kind::LOGIN => 52,
        kind::ENTER => 56,
        kind::CANCEL => 20,
        kind::REPLACE => 52,
        kind::HEARTBEAT => 4,
        kind::LOGIN_ACCEPTED => 12,
        kind::LOGIN_REJECTED => 8,
        kind::ACCEPTED => 64,
        kind::REJECTED => 32,
        kind::EXECUTED => 56,
        kind::CANCELED => 40,
        kind::REPLACED => 60,
        kind::ENTER_FOR => 72,
        kind::CANCEL_FOR => 36,
        kind::REPLACE_FOR => 68,
        kind::ADD_USER => 20,
        kind::END_OF_DAY => 12,
        kind::DEPOSIT | kind::WITHDRAW | kind::ADD_INSTRUMENT => 44,
        kind::DONE => 24,
        _ => return None,
    })
}

struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn header(&mut self, kind: u8) {
        let len = message_len(kind).unwrap_or(HEADER) as u16;
        self.0.push(VERSION);
        self.0.push(kind);
        self.0.extend_from_slice(&len.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn pad(&mut self, n: usize) {
        self.0.extend(std::iter::repeat_n(0, n));
    }
}

fn side_byte(s: Side) -> u8 {
    match s {
        Side::Buy => b'B',
        Side::Sell => b'S',
    }
}

fn type_byte(t: OrderType) -> u8 {
    match t {
        OrderType::Limit => b'L',
        OrderType::Market => b'M',
    }
}

fn tif_byte(t: TimeInForce) -> u8 {
    match t {
        TimeInForce::Gtc => b'G',
        TimeInForce::Day => b'D',
        TimeInForce::Ioc => b'I',
        TimeInForce::Fok => b'F',
    }
}

fn write_order(w: &mut Writer<'_>, o: &EnterOrder) {
    w.bytes(o.token.as_bytes());
    w.bytes(o.symbol.as_bytes());
    w.u8(side_byte(o.side));
    w.u8(type_byte(o.order_type));
    w.u8(tif_byte(o.tif));
    w.u8(u8::from(o.post_only));
    w.i64(o.price.0);
    w.i64(o.qty.0);
}

fn write_service(w: &mut Writer<'_>, m: &ServiceMsg) {
    match *m {
        ServiceMsg::EnterFor {
            request,
            user,
            order,
        } => {
            w.header(kind::ENTER_FOR);
            w.u64(request);
            w.u64(user.0);
            write_order(w, &order);
        }
        ServiceMsg::CancelFor {
            request,
            user,
            token,
        } => {
            w.header(kind::CANCEL_FOR);
            w.u64(request);
            w.u64(user.0);
            w.bytes(token.as_bytes());
        }
        ServiceMsg::ReplaceFor {
            request,
            user,
            token,
            new_token,
            price,
            qty,
        } => {
            w.header(kind::REPLACE_FOR);
            w.u64(request);
            w.u64(user.0);
            w.bytes(token.as_bytes());
            w.bytes(new_token.as_bytes());
            w.i64(price.0);
            w.i64(qty.0);
        }
        ServiceMsg::AddUser { request, user } => {
            w.header(kind::ADD_USER);
            w.u64(request);
            w.u64(user.0);
        }
        ServiceMsg::Deposit {
            request,
            user,
            asset,
            amount,
        }
        | ServiceMsg::Withdraw {
            request,
            user,
            asset,
            amount,
        } => {
            w.header(if matches!(m, ServiceMsg::Deposit { .. }) {
                kind::DEPOSIT
            } else {
                kind::WITHDRAW
            });
            w.u64(request);
            w.u64(user.0);
            w.bytes(asset.as_bytes());
            w.i64(amount);
        }
        ServiceMsg::AddInstrument {
            request,
            symbol,
            tick,
            lot,
        } => {
            w.header(kind::ADD_INSTRUMENT);
            w.u64(request);
            w.bytes(symbol.as_bytes());
            w.i64(tick.0);
            w.i64(lot.0);
        }
        ServiceMsg::EndOfDay { request } => {
            w.header(kind::END_OF_DAY);
            w.u64(request);
        }
    }
}

/// Appends a [`ForRequest`] envelope: its header, then the report's own encoding.
pub fn encode_for(report: &ForRequest, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[VERSION, kind::FOR, 0, 0]);
    out.extend_from_slice(&report.request.to_le_bytes());
    out.extend_from_slice(&report.user.to_le_bytes());
    out.extend_from_slice(&[u8::from(report.last), 0, 0, 0]);
    encode_server(&report.msg, out);
    let len = (out.len() - start) as u16;
    out[start + 2..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// Bytes of a [`ForRequest`] envelope before the report it carries.
pub const FOR_HEADER: usize = 24;

/// Decodes any gateway frame: a report to the session itself, or one about a
/// service request.
pub fn decode_report(frame: &[u8]) -> Result<Report, Refusal> {
    if frame.len() >= HEADER && frame[0] == VERSION && frame[1] == kind::FOR {
        let declared = usize::from(u16::from_le_bytes([frame[2], frame[3]]));
        if frame.len() < FOR_HEADER + HEADER || declared != frame.len() {
            return Err(refuse(RejectReason::BadLength));
        }
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&frame[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let last = match frame[20] {
            0 => false,
            1 => true,
            _ => return Err(refuse(RejectReason::Malformed)),
        };
        return Ok(Report::For(ForRequest {
            request: word(4),
            user: word(12),
            last,
            msg: decode_server(&frame[FOR_HEADER..])?,
        }));
    }
    decode_server(frame).map(Report::Direct)
}

/// A decoded gateway frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// About the session's own user.
    Direct(ServerMsg),
    /// About a service request.
    For(ForRequest),
}

/// Appends the encoding of a client message.
pub fn encode_client(msg: &ClientMsg, out: &mut Vec<u8>) {
    let mut w = Writer(out);
    match msg {
        ClientMsg::Login { key_id, secret } => {
            w.header(kind::LOGIN);
            w.bytes(key_id.as_bytes());
            w.bytes(secret);
        }
        ClientMsg::Enter(o) => {
            w.header(kind::ENTER);
            write_order(&mut w, o);
        }
        ClientMsg::Cancel { token } => {
            w.header(kind::CANCEL);
            w.bytes(token.as_bytes());
        }
        ClientMsg::Replace {
            token,
            new_token,
            price,
            qty,
        } => {
            w.header(kind::REPLACE);
            w.bytes(token.as_bytes());
            w.bytes(new_token.as_bytes());
            w.i64(price.0);
            w.i64(qty.0);
        }
        ClientMsg::Heartbeat => w.header(kind::HEARTBEAT),
        ClientMsg::Service(m) => write_service(&mut w, m),
    }
}

/// Appends the encoding of a gateway message.
pub fn encode_server(msg: &ServerMsg, out: &mut Vec<u8>) {
    let mut w = Writer(out);
    match msg {
        ServerMsg::LoginAccepted { user } => {
            w.header(kind::LOGIN_ACCEPTED);
            w.u64(*user);
        }
        ServerMsg::LoginRejected { reason } => {
            w.header(kind::LOGIN_REJECTED);
            w.u8(reason.code());
            w.pad(3);
        }
        ServerMsg::Accepted { order, seq } => {
            w.header(kind::ACCEPTED);
            write_order(&mut w, order);
            w.u64(*seq);
        }
        ServerMsg::Rejected { token, reason, seq } => {
            w.header(kind::REJECTED);
            w.bytes(token.unwrap_or_default().as_bytes());
            w.u8(reason.code());
            w.pad(3);
            w.u64(*seq);
        }
        ServerMsg::Executed {
            token,
            exec_id,
            price,
            qty,
            leaves,
            liquidity,
        } => {
            w.header(kind::EXECUTED);
            w.bytes(token.as_bytes());
            w.u64(*exec_id);
            w.i64(price.0);
            w.i64(qty.0);
            w.i64(leaves.0);
            w.u8(match liquidity {
                Liquidity::Added => b'A',
                Liquidity::Removed => b'R',
            });
            w.pad(3);
        }
        ServerMsg::Canceled {
            token,
            qty,
            reason,
            seq,
        } => {
            w.header(kind::CANCELED);
            w.bytes(token.as_bytes());
            w.i64(qty.0);
            w.u8(*reason as u8);
            w.pad(3);
            w.u64(*seq);
        }
        ServerMsg::Replaced {
            token,
            new_token,
            price,
            qty,
            seq,
        } => {
            w.header(kind::REPLACED);
            w.bytes(token.as_bytes());
            w.bytes(new_token.as_bytes());
            w.i64(price.0);
            w.i64(qty.0);
            w.u64(*seq);
        }
        ServerMsg::Heartbeat => w.header(kind::HEARTBEAT),
        ServerMsg::Done { op, user, seq } => {
            w.header(kind::DONE);
            w.u8(admin_op_code(*op));
            w.pad(3);
            w.u64(*user);
            w.u64(*seq);
        }
    }
}

/// Reads fields from a frame whose length was already checked.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.b[self.at..self.at + N]);
        self.at += N;
        out
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
    fn str16(&mut self, bad: RejectReason) -> Result<FixedStr, Refusal> {
        FixedStr::from_bytes(&self.take::<16>()).map_err(|_| refuse(bad))
    }
}

/// Checks the header: version, known type, length equal to the type's.
fn check_header(frame: &[u8], client: bool) -> Result<u8, Refusal> {
    if frame.len() < HEADER {
        return Err(refuse(RejectReason::BadLength));
    }
    if frame[0] != VERSION {
        return Err(refuse(RejectReason::UnsupportedVersion));
    }
    let k = frame[1];
    let from_client = matches!(k, kind::LOGIN | kind::ENTER | kind::CANCEL | kind::REPLACE)
        || kind::is_service(k);
    let known = if client {
        from_client || k == kind::HEARTBEAT
    } else {
        !from_client && message_len(k).is_some()
    };
    let Some(len) = message_len(k).filter(|_| known) else {
        return Err(refuse(RejectReason::UnknownMessageType));
    };
    let declared = usize::from(u16::from_le_bytes([frame[2], frame[3]]));
    if declared != len || frame.len() != len {
        return Err(refuse(RejectReason::BadLength));
    }
    Ok(k)
}

fn read_order(r: &mut Reader<'_>) -> Result<EnterOrder, Refusal> {
    let token = r.str16(RejectReason::Malformed)?;
    let with_token = |reason| Refusal {
        reason,
        token: Some(token),
    };
    let symbol = r
        .str16(RejectReason::UnknownSymbol)
        .map_err(|e| with_token(e.reason))?;
    let side = match r.u8() {
        b'B' => Side::Buy,
        b'S' => Side::Sell,
        _ => return Err(with_token(RejectReason::Malformed)),
    };
    let order_type = match r.u8() {
        b'L' => OrderType::Limit,
        b'M' => OrderType::Market,
        _ => return Err(with_token(RejectReason::Malformed)),
    };
    let tif = match r.u8() {
        b'G' => TimeInForce::Gtc,
        b'D' => TimeInForce::Day,
        b'I' => TimeInForce::Ioc,
        b'F' => TimeInForce::Fok,
        _ => return Err(with_token(RejectReason::Malformed)),
    };
    let post_only = match r.u8() {
        0 => false,
        1 => true,
        _ => return Err(with_token(RejectReason::Malformed)),
    };
    Ok(EnterOrder {
        token,
        symbol,
        side,
        order_type,
        tif,
        post_only,
        price: Price(r.i64()),
        qty: Qty(r.i64()),
    })
}

/// Decodes a client frame.
pub fn decode_client(frame: &[u8]) -> Result<ClientMsg, Refusal> {
    let k = check_header(frame, true)?;
    let mut r = Reader {
        b: frame,
        at: HEADER,
    };
    Ok(match k {
        kind::LOGIN => ClientMsg::Login {
            key_id: r.str16(RejectReason::BadCredentials)?,
            secret: r.take(),
        },
        kind::ENTER => ClientMsg::Enter(read_order(&mut r)?),
        kind::CANCEL => ClientMsg::Cancel {
            token: r.str16(RejectReason::Malformed)?,
        },
        kind::REPLACE => {
            let token = r.str16(RejectReason::Malformed)?;
            let new_token = r.str16(RejectReason::Malformed).map_err(|e| Refusal {
                reason: e.reason,
                token: Some(token),
            })?;
            ClientMsg::Replace {
                token,
                new_token,
                price: Price(r.i64()),
                qty: Qty(r.i64()),
            }
        }
        kind::HEARTBEAT => ClientMsg::Heartbeat,
        _ => ClientMsg::Service(read_service(k, &mut r)?),
    })
}

fn read_service(k: u8, r: &mut Reader<'_>) -> Result<ServiceMsg, Refusal> {
    let request = r.u64();
    Ok(match k {
        kind::ENTER_FOR => ServiceMsg::EnterFor {
            request,
            user: UserId(r.u64()),
            order: read_order(r)?,
        },
        kind::CANCEL_FOR => ServiceMsg::CancelFor {
            request,
            user: UserId(r.u64()),
            token: r.str16(RejectReason::Malformed)?,
        },
        kind::REPLACE_FOR => {
            let user = UserId(r.u64());
            let token = r.str16(RejectReason::Malformed)?;
            let new_token = r.str16(RejectReason::Malformed).map_err(|e| Refusal {
                reason: e.reason,
                token: Some(token),
            })?;
            ServiceMsg::ReplaceFor {
                request,
                user,
                token,
                new_token,
                price: Price(r.i64()),
                qty: Qty(r.i64()),
            }
        }
        kind::ADD_USER => ServiceMsg::AddUser {
            request,
            user: UserId(r.u64()),
        },
        kind::DEPOSIT | kind::WITHDRAW => {
            let user = UserId(r.u64());
            let asset = r.str16(RejectReason::UnknownSymbol)?;
            let amount = r.i64();
            if k == kind::DEPOSIT {
                ServiceMsg::Deposit {
                    request,
                    user,
                    asset,
                    amount,
                }
            } else {
                ServiceMsg::Withdraw {
                    request,
                    user,
                    asset,
                    amount,
                }
            }
        }
        kind::END_OF_DAY => ServiceMsg::EndOfDay { request },
        _ => ServiceMsg::AddInstrument {
            request,
            symbol: r.str16(RejectReason::Malformed)?,
            tick: Price(r.i64()),
            lot: Qty(r.i64()),
        },
    })
}

fn cancel_reason(code: u8) -> Option<CancelReason> {
    Some(match code {
        1 => CancelReason::User,
        2 => CancelReason::Ioc,
        3 => CancelReason::Fok,
        4 => CancelReason::MarketNoLiquidity,
        5 => CancelReason::SelfTrade,
        6 => CancelReason::Replaced,
        7 => CancelReason::Expired,
        _ => return None,
    })
}

/// Decodes a gateway frame (for clients: tests, the load generator, the demo).
pub fn decode_server(frame: &[u8]) -> Result<ServerMsg, Refusal> {
    let k = check_header(frame, false)?;
    let mut r = Reader {
        b: frame,
        at: HEADER,
    };
    let bad = || refuse(RejectReason::Malformed);
    Ok(match k {
        kind::LOGIN_ACCEPTED => ServerMsg::LoginAccepted { user: r.u64() },
        kind::LOGIN_REJECTED => ServerMsg::LoginRejected {
            reason: RejectReason::from_code(r.u8()).ok_or_else(bad)?,
        },
        kind::ACCEPTED => {
            let order = read_order(&mut r)?;
            ServerMsg::Accepted {
                order,
                seq: r.u64(),
            }
        }
        kind::REJECTED => {
            let raw = r.take::<16>();
            let token = FixedStr::from_bytes(&raw).ok();
            let reason = RejectReason::from_code(r.u8()).ok_or_else(bad)?;
            r.take::<3>();
            ServerMsg::Rejected {
                token,
                reason,
                seq: r.u64(),
            }
        }
        kind::EXECUTED => ServerMsg::Executed {
            token: r.str16(RejectReason::Malformed)?,
            exec_id: r.u64(),
            price: Price(r.i64()),
            qty: Qty(r.i64()),
            leaves: Qty(r.i64()),
            liquidity: match r.u8() {
                b'A' => Liquidity::Added,
                b'R' => Liquidity::Removed,
                _ => return Err(bad()),
            },
        },
        kind::CANCELED => {
            let token = r.str16(RejectReason::Malformed)?;
            let qty = Qty(r.i64());
            let reason = cancel_reason(r.u8()).ok_or_else(bad)?;
            r.take::<3>();
            ServerMsg::Canceled {
                token,
                qty,
                reason,
                seq: r.u64(),
            }
        }
        kind::REPLACED => ServerMsg::Replaced {
            token: r.str16(RejectReason::Malformed)?,
            new_token: r.str16(RejectReason::Malformed)?,
            price: Price(r.i64()),
            qty: Qty(r.i64()),
            seq: r.u64(),
        },
        kind::DONE => {
            let op = admin_op(r.u8()).ok_or_else(bad)?;
            r.take::<3>();
            ServerMsg::Done {
                op,
                user: r.u64(),
                seq: r.u64(),
            }
        }
        _ => ServerMsg::Heartbeat,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(v: &str) -> FixedStr {
        FixedStr::new(v).unwrap()
    }

    pub(super) fn order() -> EnterOrder {
        EnterOrder {
            token: s("ORD1"),
            symbol: s("ACME"),
            side: Side::Buy,
            order_type: OrderType::Limit,
            tif: TimeInForce::Gtc,
            post_only: false,
            price: Price(10_050),
            qty: Qty(100),
        }
    }

    pub(super) fn all_client() -> Vec<ClientMsg> {
        vec![
            ClientMsg::Login {
                key_id: s("mm-1"),
                secret: *b"0123456789abcdef0123456789abcdef",
            },
            ClientMsg::Enter(order()),
            ClientMsg::Cancel { token: s("ORD1") },
            ClientMsg::Replace {
                token: s("ORD1"),
                new_token: s("ORD2"),
                price: Price(10_045),
                qty: Qty(80),
            },
            ClientMsg::Heartbeat,
        ]
    }

    pub(super) fn all_server() -> Vec<ServerMsg> {
        vec![
            ServerMsg::LoginAccepted { user: 7 },
            ServerMsg::LoginRejected {
                reason: RejectReason::BadCredentials,
            },
            ServerMsg::Accepted {
                order: order(),
                seq: 42,
            },
            ServerMsg::Rejected {
                token: Some(s("ORD1")),
                reason: RejectReason::InsufficientFunds,
                seq: 43,
            },
            ServerMsg::Rejected {
                token: None,
                reason: RejectReason::BadLength,
                seq: 0,
            },
            ServerMsg::Executed {
                token: s("ORD1"),
                exec_id: 44,
                price: Price(10_040),
                qty: Qty(30),
                leaves: Qty(70),
                liquidity: Liquidity::Removed,
            },
            ServerMsg::Canceled {
                token: s("ORD1"),
                qty: Qty(70),
                reason: CancelReason::User,
                seq: 45,
            },
            ServerMsg::Replaced {
                token: s("ORD1"),
                new_token: s("ORD2"),
                price: Price(10_045),
                qty: Qty(80),
                seq: 46,
            },
            ServerMsg::Heartbeat,
        ]
    }

    /// Every service request, the `Done` report and an envelope around one.
    pub(super) fn all_service() -> (Vec<ClientMsg>, Vec<ServerMsg>, ForRequest) {
        let user = UserId(10);
        let client = vec![
            ServiceMsg::EnterFor {
                request: 1,
                user,
                order: order(),
            },
            ServiceMsg::CancelFor {
                request: 2,
                user,
                token: s("ORD1"),
            },
            ServiceMsg::ReplaceFor {
                request: 3,
                user,
                token: s("ORD1"),
                new_token: s("ORD2"),
                price: Price(10_045),
                qty: Qty(80),
            },
            ServiceMsg::AddUser { request: 4, user },
            ServiceMsg::Deposit {
                request: 5,
                user,
                asset: s("USD"),
                amount: 1_000_000,
            },
            ServiceMsg::Withdraw {
                request: 6,
                user,
                asset: s("ACME"),
                amount: 25,
            },
            ServiceMsg::AddInstrument {
                request: 7,
                symbol: s("ACME"),
                tick: Price(5),
                lot: Qty(10),
            },
            ServiceMsg::EndOfDay { request: 8 },
        ]
        .into_iter()
        .map(ClientMsg::Service)
        .collect();
        let done = ServerMsg::Done {
            op: AdminOp::Deposit,
            user: 10,
            seq: 47,
        };
        let envelope = ForRequest {
            request: 5,
            user: 10,
            last: true,
            msg: done,
        };
        (client, vec![done], envelope)
    }

    #[test]
    fn service_messages_and_envelopes_round_trip() {
        let (client, server, envelope) = all_service();
        for m in client {
            let mut b = Vec::new();
            encode_client(&m, &mut b);
            assert_eq!(Some(b.len()), message_len(b[1]), "{m:?}");
            assert_eq!(decode_client(&b), Ok(m));
        }
        for m in server {
            let mut b = Vec::new();
            encode_server(&m, &mut b);
            assert_eq!(Some(b.len()), message_len(b[1]), "{m:?}");
            assert_eq!(decode_server(&b), Ok(m));
        }
        for msg in [
            envelope.msg,
            ServerMsg::Accepted {
                order: order(),
                seq: 9,
            },
        ] {
            let e = ForRequest { msg, ..envelope };
            let mut b = Vec::new();
            encode_for(&e, &mut b);
            assert_eq!(decode_report(&b), Ok(Report::For(e)));
            // Every cut is refused, never a panic.
            for cut in 0..b.len() {
                assert!(decode_report(&b[..cut]).is_err(), "cut at {cut}");
            }
        }
        let mut b = Vec::new();
        encode_server(&ServerMsg::Heartbeat, &mut b);
        assert_eq!(decode_report(&b), Ok(Report::Direct(ServerMsg::Heartbeat)));
    }

    #[test]
    fn every_message_round_trips_at_its_fixed_length() {
        for m in all_client() {
            let mut b = Vec::new();
            encode_client(&m, &mut b);
            assert_eq!(Some(b.len()), message_len(b[1]), "{m:?}");
            assert_eq!(decode_client(&b), Ok(m));
        }
        for m in all_server() {
            let mut b = Vec::new();
            encode_server(&m, &mut b);
            assert_eq!(Some(b.len()), message_len(b[1]), "{m:?}");
            assert_eq!(decode_server(&b), Ok(m));
        }
    }

    #[test]
    fn bad_frames_get_the_right_reason() {
        let mut enter = Vec::new();
        encode_client(&ClientMsg::Enter(order()), &mut enter);
        let reason = |f: &[u8]| decode_client(f).map_err(|r| r.reason);
        assert_eq!(reason(&enter[..3]), Err(RejectReason::BadLength));
        assert_eq!(reason(&enter[..40]), Err(RejectReason::BadLength));
        let mut v2 = enter.clone();
        v2[0] = 2;
        assert_eq!(reason(&v2), Err(RejectReason::UnsupportedVersion));
        let mut unknown = enter.clone();
        unknown[1] = b'Z';
        assert_eq!(reason(&unknown), Err(RejectReason::UnknownMessageType));
        let mut server_type = enter.clone();
        server_type[1] = kind::ACCEPTED;
        assert_eq!(reason(&server_type), Err(RejectReason::UnknownMessageType));
        let mut lying = enter.clone();
        lying[2] = 57;
        assert_eq!(reason(&lying), Err(RejectReason::BadLength));
        let mut bad_side = enter.clone();
        bad_side[36] = b'Q';
        assert_eq!(
            decode_client(&bad_side),
            Err(Refusal {
                reason: RejectReason::Malformed,
                token: Some(s("ORD1"))
            }),
            "the token is quoted back when it could be read"
        );
        let mut bad_symbol = enter.clone();
        bad_symbol[20] = 0;
        assert_eq!(reason(&bad_symbol), Err(RejectReason::UnknownSymbol));
        let mut bad_token = enter;
        bad_token[4] = b' ';
        assert_eq!(reason(&bad_token), Err(RejectReason::Malformed));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

        #[test]
        fn random_frames_never_panic_and_valid_ones_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(m) = decode_client(&bytes) {
                let mut again = Vec::new();
                encode_client(&m, &mut again);
                // Padding bytes after a string may differ only where the frame had garbage
                // after a zero; the decoded message must re-decode identically.
                prop_assert_eq!(decode_client(&again), Ok(m));
            }
            let _ = decode_server(&bytes);
        }

        #[test]
        fn mutated_valid_frames_never_panic(which in 0usize..5, pos in 0usize..64, byte in any::<u8>(), cut in 0usize..64) {
            let mut b = Vec::new();
            encode_client(&all_client()[which], &mut b);
            let p = pos % b.len();
            b[p] = byte;
            b.truncate(cut.max(1).min(b.len()));
            let _ = decode_client(&b);
        }
    }
}

#[cfg(test)]
mod doc_examples {
    use super::*;

    /// The examples of `docs/protocol.md`, in the order the document gives them: every
    /// message of the codec tests but the token-less rejection and the gateway's
    /// heartbeat (the same bytes as the client's).
    pub(super) fn examples() -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for m in super::tests::all_client() {
            let mut b = Vec::new();
            encode_client(&m, &mut b);
            out.push(b);
        }
        for m in super::tests::all_server() {
            if matches!(
                m,
                ServerMsg::Heartbeat | ServerMsg::Rejected { token: None, .. }
            ) {
                continue;
            }
            let mut b = Vec::new();
            encode_server(&m, &mut b);
            out.push(b);
        }
        let (client, server, envelope) = super::tests::all_service();
        for m in client {
            let mut b = Vec::new();
            encode_client(&m, &mut b);
            out.push(b);
        }
        for m in server {
            let mut b = Vec::new();
            encode_server(&m, &mut b);
            out.push(b);
        }
        let mut b = Vec::new();
        encode_for(&envelope, &mut b);
        out.push(b);
        out
    }

    fn hex(b: &[u8]) -> String {
        b.iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_protocol_document_shows_what_the_codec_encodes() {
        let doc = include_str!("../../docs/protocol.md");
        let shown: Vec<String> = doc
            .lines()
            .filter_map(|l| l.trim().strip_prefix("hex: "))
            .map(str::to_owned)
            .collect();
        let ours: Vec<String> = examples().iter().map(|b| hex(b)).collect();
        if std::env::var_os("PRINT_PROTOCOL_EXAMPLES").is_some() {
            for h in &ours {
                println!("hex: {h}");
            }
        }
        assert_eq!(
            shown, ours,
            "docs/protocol.md examples differ from the encoder"
        );
    }
}

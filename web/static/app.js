// Bourse's web page: the public REST and WebSocket APIs, and nothing else.
//
// REST calls carry `Authorization: Bearer <access token>` (refreshed before it
// expires). Browsers cannot set headers on a WebSocket, so the sockets authenticate as
// each documents for browsers: the trade_updates stream (/stream) and the market data
// stream (/v2/iex) in band, the portfolio and notification sockets by the
// `bearer.<token>` WebSocket subprotocol beside `bourse`.
"use strict";

const $ = (id) => document.getElementById(id);

// ---- Session: tokens in sessionStorage (gone with the tab) ----

const session = {
  token: null,
  refresh: null,
  user: null,
  timer: null,
  load() {
    const s = JSON.parse(sessionStorage.getItem("bourse.session") || "null");
    if (s) Object.assign(this, s);
  },
  save(login) {
    this.token = login.access_token;
    this.refresh = login.refresh_token;
    this.user = login.user;
    sessionStorage.setItem(
      "bourse.session",
      JSON.stringify({ token: this.token, refresh: this.refresh, user: this.user }),
    );
    clearTimeout(this.timer);
    // Refreshed at 80% of its life: a socket opened later still gets a live token.
    this.timer = setTimeout(renew, Math.max(5, login.expires_in * 0.8) * 1000);
  },
  clear() {
    this.token = this.refresh = this.user = null;
    clearTimeout(this.timer);
    sessionStorage.removeItem("bourse.session");
  },
};

/** An API error: the status and the service's message. */
class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Calls the API; the JSON answer, or an ApiError with the service's message. */
async function api(method, path, body, retried = false) {
  const headers = {};
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 401 && session.refresh && !retried && (await renew())) {
    return api(method, path, body, true);
  }
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!r.ok) {
    throw new ApiError(r.status, (json && json.message) || text || r.statusText);
  }
  return json;
}

/** Trades the refresh token for new tokens; false (and signed out) if it cannot. */
async function renew() {
  if (!session.refresh) return false;
  try {
    const r = await fetch("/v1/auth/refresh", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: session.refresh }),
    });
    if (!r.ok) throw new Error(String(r.status));
    session.save(await r.json());
    return true;
  } catch {
    signOut();
    return false;
  }
}

// ---- Formatting: money arrives as decimal strings (REST, portfolio) or numbers
// (market data); shown as given, never through float arithmetic on balances. ----

const money = (v) => {
  if (v === null || v === undefined || v === "") return "—";
  const s = String(v);
  return s.startsWith("-") ? `-$${s.slice(1)}` : `$${s}`;
};
const price = (p) => (typeof p === "number" ? p.toFixed(2) : p ?? "—");
const timeOf = (t) => new Date(t).toLocaleTimeString([], { hour12: false });

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c ?? ""));
  return e;
}

function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.hidden = true), 4000);
}

// ---- Sockets: reconnect with backoff while signed in ----

const sockets = new Set();

/** Opens `path` as a WebSocket and keeps it open until sign-out. */
function keepOpen(path, { protocols, onopen, onmessage, onstate }) {
  const s = { ws: null, delay: 500, closed: false };
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
  const connect = () => {
    if (s.closed) return;
    s.ws = new WebSocket(url, protocols ? protocols() : undefined);
    s.ws.binaryType = "arraybuffer";
    s.ws.onopen = () => {
      s.delay = 500;
      onstate && onstate(true);
      onopen && onopen(s.ws);
    };
    s.ws.onmessage = (e) => {
      let m;
      try {
        const text = typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data);
        m = JSON.parse(text);
      } catch {
        return;
      }
      onmessage(m, s.ws);
    };
    s.ws.onclose = () => {
      onstate && onstate(false);
      if (s.closed) return;
      setTimeout(connect, s.delay);
      s.delay = Math.min(s.delay * 2, 15000);
    };
  };
  s.close = () => {
    s.closed = true;
    if (s.ws) s.ws.close();
  };
  sockets.add(s);
  connect();
  return s;
}

const bearer = () => ["bourse", `bearer.${session.token}`];

// ---- Sign in, sign up, sign out ----

async function signIn(username, password) {
  const login = await api("POST", "/v1/auth/login", { username, password });
  session.save(login);
  await start();
}

function signOut() {
  if (session.refresh) {
    fetch("/v1/auth/logout", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: session.refresh }),
    }).catch(() => {});
  }
  session.clear();
  editing = null;
  clearInterval(watching.timer);
  watching.id = null;
  watching.symbols = [];
  for (const s of sockets) s.close();
  sockets.clear();
  $("desk").hidden = true;
  $("signin").hidden = false;
  $("symbol").hidden = $("logout").hidden = true;
  $("who").textContent = "";
}

$("auth-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("auth-error").textContent = "";
  try {
    await signIn($("username").value, $("password").value);
  } catch (err) {
    $("auth-error").textContent = err.message;
  }
});

$("signup").addEventListener("click", async () => {
  $("auth-error").textContent = "";
  const username = $("username").value;
  const password = $("password").value;
  try {
    await api("POST", "/v1/users", { username, password });
    await signIn(username, password);
  } catch (err) {
    $("auth-error").textContent = err.message;
  }
});

$("logout").addEventListener("click", signOut);

// ---- The market: chart, last trades, book, quote ----

const market = {
  symbol: null,
  /** Each listed symbol's company name ("" when none was given). */
  names: {},
  chart: null,
  candles: null,
  lastBar: null,
  first: null,
  socket: null,
  bookTimer: null,
  bookDue: false,
};

function makeChart() {
  const lc = window.LightweightCharts;
  market.chart = lc.createChart($("chart"), {
    autoSize: true,
    layout: { background: { color: "transparent" }, textColor: "#c9d1d9" },
    grid: { vertLines: { color: "#21262d" }, horzLines: { color: "#21262d" } },
    // A few empty bars at the right, so the newest candle and its time label are not
    // cut at the chart's edge.
    timeScale: { timeVisible: true, secondsVisible: false, rightOffset: 4 },
  });
  market.candles = market.chart.addSeries(lc.CandlestickSeries, {
    upColor: "#3fb950",
    downColor: "#f85149",
    borderVisible: false,
    wickUpColor: "#3fb950",
    wickDownColor: "#f85149",
  });
}

/** The browser's local time for the chart (it draws UTC seconds as given). */
const chartTime = (t) => {
  const d = new Date(t);
  return Math.floor(d.getTime() / 1000) - d.getTimezoneOffset() * 60;
};

async function loadSymbol(symbol) {
  const old = market.symbol;
  market.symbol = symbol;
  const ws = market.socket && market.socket.ws;
  if (ws && ws.readyState === WebSocket.OPEN && ws.authed) {
    if (old) ws.send(JSON.stringify({ action: "unsubscribe", trades: [old], quotes: [old], bars: [old] }));
    ws.send(JSON.stringify({ action: "subscribe", trades: [symbol], quotes: [symbol] }));
  }
  $("last").textContent = "—";
  $("change").textContent = "";
  $("asset-name").textContent = market.names[symbol] || "";
  markWatched();
  const q = encodeURIComponent(symbol);
  const [bars, trades] = await Promise.all([
    api("GET", `/v2/stocks/${q}/bars?timeframe=1Min&sort=desc&limit=300`),
    api("GET", `/v2/stocks/${q}/trades?sort=desc&limit=25`),
  ]);
  const data = (bars.bars || [])
    .reverse()
    .map((b) => ({ time: chartTime(b.t), open: b.o, high: b.h, low: b.l, close: b.c }));
  market.candles.setData(data);
  market.lastBar = data.length ? { ...data[data.length - 1] } : null;
  market.first = data.length ? data[0].open : null;
  const body = $("trades").tBodies[0];
  body.replaceChildren();
  for (const t of (trades.trades || []).reverse()) showTrade(t, false);
  refreshBook();
}

/** A trade: into the list, the last price and the current candle. */
function showTrade(t, live) {
  const body = $("trades").tBodies[0];
  body.prepend(el("tr", { class: live ? "flash" : "" }, el("td", {}, timeOf(t.t)), el("td", {}, price(t.p)), el("td", {}, t.s)));
  while (body.rows.length > 30) body.deleteRow(-1);
  $("last").textContent = price(t.p);
  // The watched instrument on screen keeps its watchlist row as current as the quote.
  const watched = $("watchlist").querySelector(`tr[data-symbol="${market.symbol}"] .last-price`);
  if (watched) watched.textContent = price(t.p);
  if (market.first) {
    const pct = ((t.p - market.first) / market.first) * 100;
    $("change").textContent = `${pct >= 0 ? "+" : ""}${pct.toFixed(2)}%`;
    $("change").className = pct >= 0 ? "up" : "down";
  }
  if (!live) return;
  const minute = chartTime(t.t) - (chartTime(t.t) % 60);
  const bar = market.lastBar;
  if (bar && bar.time === minute) {
    bar.high = Math.max(bar.high, t.p);
    bar.low = Math.min(bar.low, t.p);
    bar.close = t.p;
  } else if (!bar || minute > bar.time) {
    market.lastBar = { time: minute, open: t.p, high: t.p, low: t.p, close: t.p };
  } else {
    return; // older than the chart's last bar
  }
  market.candles.update({ ...market.lastBar });
}

async function refreshBook() {
  market.bookDue = false;
  if (!market.symbol) return;
  let books;
  try {
    books = await api("GET", `/v2/stocks/orderbooks/latest?symbols=${encodeURIComponent(market.symbol)}`);
  } catch {
    return;
  }
  const b = (books.orderbooks || {})[market.symbol] || { b: [], a: [] };
  const body = $("book").tBodies[0];
  body.replaceChildren();
  for (let i = 0; i < Math.max(Math.min(b.b.length, 10), Math.min(b.a.length, 10)); i++) {
    const bid = b.b[i];
    const ask = b.a[i];
    body.append(
      el(
        "tr",
        {},
        el("td", {}, bid ? bid.s : ""),
        el("td", { class: "up" }, bid ? price(bid.p) : ""),
        el("td", { class: "down" }, ask ? price(ask.p) : ""),
        el("td", {}, ask ? ask.s : ""),
      ),
    );
  }
  $("bid").textContent = b.b.length ? price(b.b[0].p) : "—";
  $("ask").textContent = b.a.length ? price(b.a[0].p) : "—";
}

/** The book again soon: at most four times a second, on quotes and trades. */
function bookSoon() {
  if (market.bookDue) return;
  market.bookDue = true;
  setTimeout(refreshBook, 250);
}

function openMarketStream() {
  market.socket = keepOpen("/v2/iex", {
    onmessage(msgs, ws) {
      for (const m of msgs) {
        if (m.T === "success" && m.msg === "connected") {
          ws.send(JSON.stringify({ action: "auth", token: session.token }));
        } else if (m.T === "success" && m.msg === "authenticated") {
          ws.authed = true;
          if (market.symbol) {
            ws.send(JSON.stringify({ action: "subscribe", trades: [market.symbol], quotes: [market.symbol] }));
          }
        } else if (m.T === "t" && m.S === market.symbol) {
          showTrade(m, true);
          bookSoon();
        } else if (m.T === "q" && m.S === market.symbol) {
          $("bid").textContent = m.bp ? price(m.bp) : "—";
          $("ask").textContent = m.ap ? price(m.ap) : "—";
          bookSoon();
        }
      }
    },
  });
}

// ---- The order ticket ----

function showTicketFields() {
  const type = $("type").value;
  for (const label of document.querySelectorAll("#ticket [data-for]")) {
    label.hidden = !label.dataset.for.split(" ").includes(type);
  }
}
$("type").addEventListener("change", showTicketFields);

$("ticket").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("ticket-error").textContent = $("ticket-ok").textContent = "";
  const form = new FormData(e.target);
  const order = {
    symbol: market.symbol,
    side: form.get("side"),
    type: form.get("type"),
    qty: form.get("qty").trim(),
    time_in_force: form.get("time_in_force"),
  };
  // Only the fields the type shows; the service says what is wrong with them.
  for (const field of ["limit_price", "stop_price", "trail_price"]) {
    const input = $(field);
    if (!input.closest("label").hidden && input.value.trim() !== "") order[field] = input.value.trim();
  }
  $("place").disabled = true;
  try {
    const o = await api("POST", "/v2/orders", order);
    $("ticket-ok").textContent = `${o.side} ${o.qty} ${o.symbol}: ${o.status.replace("_", " ")}`;
    refreshOrders();
  } catch (err) {
    $("ticket-error").textContent = err.message;
  } finally {
    $("place").disabled = false;
  }
});

// ---- Orders: open ones, cancel and replace; trade_updates keeps them current ----

/** The order whose replace form is open: the list waits while the user types. */
let editing = null;

/** Reads started: only the newest one's answer is shown. */
let ordersRead = 0;

async function refreshOrders() {
  if (editing) return;
  const mine = ++ordersRead;
  let orders;
  try {
    orders = await api("GET", "/v2/orders?status=open&limit=100");
  } catch (err) {
    $("orders-error").textContent = err.message;
    return;
  }
  // A form opened, or a newer read started, while this one was on its way.
  if (editing || mine !== ordersRead) return;
  $("orders-error").textContent = "";
  const body = $("orders").tBodies[0];
  body.replaceChildren();
  for (const o of orders) {
    const px = o.limit_price || o.stop_price || (o.trail_price ? `trail ${o.trail_price}` : "market");
    const cancel = el("button", { type: "button", class: "link", "data-action": "cancel" }, "Cancel");
    cancel.addEventListener("click", () => cancelOrder(o.id));
    const actions = el("td", {}, cancel);
    if (o.type === "limit" || o.status === "held") {
      const edit = el("button", { type: "button", class: "link", "data-action": "replace" }, "Replace");
      edit.addEventListener("click", () => replaceForm(row, o));
      actions.prepend(edit);
    }
    const row = el(
      "tr",
      { "data-order": o.id },
      el("td", {}, o.symbol),
      el("td", { class: o.side === "buy" ? "up" : "down" }, o.side),
      el("td", {}, o.type.replace("_", " ")),
      el("td", {}, o.qty),
      el("td", {}, o.filled_qty),
      el("td", {}, px),
      el("td", { class: "status" }, o.status.replace("_", " ")),
      actions,
    );
    body.append(row);
  }
}

async function cancelOrder(id) {
  try {
    await api("DELETE", `/v2/orders/${id}`);
    toast("Order canceled");
  } catch (err) {
    $("orders-error").textContent = err.message;
  }
  refreshOrders();
}

/** The replace form in place of an order's row: quantity and its price. */
function replaceForm(row, o) {
  const field = o.type === "limit" || o.type === "stop_limit" ? "limit_price" : o.type === "trailing_stop" ? "trail" : "stop_price";
  const current = field === "trail" ? o.trail_price || o.trail_percent : o[field];
  const qty = el("input", { value: o.qty, "aria-label": "New quantity", inputmode: "numeric", size: 4 });
  const px = el("input", { value: current || "", "aria-label": "New price", inputmode: "decimal", size: 6 });
  const back = el("button", { type: "button", class: "secondary" }, "Keep");
  const form = el("form", { class: "row" }, qty, px, el("button", { type: "submit" }, "Save"), back);
  const close = () => {
    editing = null;
    refreshOrders();
  };
  back.addEventListener("click", close);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("PATCH", `/v2/orders/${o.id}`, { qty: qty.value.trim(), [field]: px.value.trim() });
      toast("Order replaced");
      $("orders-error").textContent = "";
      close();
    } catch (err) {
      // The form stays open with what was typed, beside the service's reason.
      $("orders-error").textContent = err.message;
    }
  });
  editing = o.id;
  row.replaceChildren(el("td", { colspan: 8 }, form));
  px.focus();
}

function openTradeUpdates() {
  let due = false;
  keepOpen("/stream", {
    onopen(ws) {
      ws.send(JSON.stringify({ action: "authenticate", data: { oauth_token: session.token } }));
    },
    onmessage(m, ws) {
      if (m.stream === "authorization" && m.data.status === "authorized") {
        ws.send(JSON.stringify({ action: "listen", data: { streams: ["trade_updates"] } }));
      } else if (m.stream === "trade_updates") {
        if (!due) {
          due = true;
          setTimeout(() => {
            due = false;
            refreshOrders();
          }, 150);
        }
      }
    },
  });
}

// ---- The portfolio socket ----

function openPortfolio() {
  keepOpen(`/portfolio?userID=${session.user.id}`, {
    protocols: bearer,
    onstate: (up) => $("portfolio-live").classList.toggle("on", up),
    onmessage(p) {
      $("equity").textContent = money(p.equity);
      $("cash").textContent = money(p.cash);
      $("upl").textContent = money(p.unrealized_pl);
      const body = $("positions").tBodies[0];
      body.replaceChildren();
      for (const pos of p.positions) {
        body.append(
          el(
            "tr",
            { "data-symbol": pos.symbol },
            el("td", {}, pos.symbol),
            el("td", { class: "qty" }, pos.qty),
            el("td", {}, pos.price ?? "—"),
            el("td", {}, money(pos.market_value)),
            el("td", { class: pos.unrealized_pl.startsWith("-") ? "down" : "up" }, money(pos.unrealized_pl)),
          ),
        );
      }
    },
  });
}

// ---- Notifications: the inbox, pushed live ----

function showNotification(n, atTop) {
  const item = el(
    "li",
    { class: n.read ? "read" : "unread", "data-kind": n.kind },
    el("span", {}, n.title),
    el("time", { class: "muted" }, timeOf(n.created_at)),
  );
  if (!n.read) {
    item.addEventListener("click", async () => {
      try {
        await api("PATCH", `/v1/notifications/${n.id}`, { read: true });
        item.className = "read";
        setUnread(Number($("unread").textContent) - 1);
      } catch (err) {
        toast(err.message);
      }
    });
  }
  const list = $("inbox");
  if (atTop) list.prepend(item);
  else list.append(item);
  while (list.children.length > 50) list.lastChild.remove();
}

function setUnread(n) {
  $("unread").textContent = String(Math.max(0, n));
  $("unread").classList.toggle("zero", n <= 0);
}

async function loadInbox() {
  const page = await api("GET", "/v1/notifications?limit=20");
  $("inbox").replaceChildren();
  for (const n of page.notifications || []) showNotification(n, false);
}

function openNotifications() {
  keepOpen("/v1/notifications/stream", {
    protocols: bearer,
    onmessage(m) {
      if (m.type === "hello") {
        setUnread(m.unread);
        loadInbox().catch(() => {});
      } else if (m.type === "notification") {
        showNotification(m.notification, true);
        setUnread(Number($("unread").textContent) + 1);
        toast(m.notification.title);
      }
    },
  });
}

$("read-all").addEventListener("click", async () => {
  await api("POST", "/v1/notifications/read_all");
  setUnread(0);
  for (const li of $("inbox").children) li.className = "read";
});

// ---- API keys ----

async function loadKeys() {
  const keys = await api("GET", "/v1/keys");
  const list = $("keys");
  list.replaceChildren();
  for (const k of keys) {
    const revoke = el("button", { type: "button", class: "link" }, "Revoke");
    revoke.addEventListener("click", async () => {
      await api("DELETE", `/v1/keys/${k.key_id}`);
      loadKeys();
    });
    list.append(el("li", {}, el("code", {}, k.key_id), ` ${k.label || ""} `, revoke));
  }
}

$("key-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    const k = await api("POST", "/v1/keys", { label: $("key-label").value });
    $("key-secret").replaceChildren(
      "Key ",
      el("code", { id: "new-key-id" }, k.key_id),
      " secret ",
      el("code", { id: "new-key-secret" }, k.secret),
      " — copy it now: it is not shown again.",
    );
    $("key-label").value = "";
    loadKeys();
  } catch (err) {
    $("key-secret").textContent = err.message;
  }
});

// ---- The watchlist: one list named "Watchlist" of the user's (`/v2/watchlists`) ----

const WATCHLIST = "Watchlist";
const watching = { id: null, symbols: [], timer: null };

/** The user's watchlist, if they have one, and its last prices. */
async function loadWatchlist() {
  const lists = await api("GET", "/v2/watchlists");
  const mine = lists.find((w) => w.name === WATCHLIST);
  const full = mine ? await api("GET", `/v2/watchlists/${mine.id}`) : null;
  keepWatchlist(full);
}

/** Keeps `w` (a watchlist with its assets, or none) and shows it. */
function keepWatchlist(w) {
  watching.id = w ? w.id : null;
  watching.symbols = w ? w.assets.map((a) => a.symbol) : [];
  showWatchlist();
  refreshWatchPrices();
}

/** The watchlist's rows, built anew when it changes (prices from refreshWatchPrices). */
function showWatchlist() {
  const body = $("watchlist").tBodies[0];
  const rows = watching.symbols.map((s) =>
    el(
      "tr",
      {
        "data-symbol": s,
        onclick: () => {
          $("symbol").value = s;
          loadSymbol(s).catch((err) => toast(err.message));
        },
      },
      el("td", {}, s),
      el("td", { class: "last-price" }, "—"),
      el("td", { class: "muted" }, market.names[s] || ""),
    ),
  );
  body.replaceChildren(...rows);
  $("watch-empty").hidden = rows.length > 0;
  $("watchlist").hidden = rows.length === 0;
  markWatched();
}

/** The instrument on screen: its row marked, the ☆ button in its state. Rows and their
 * prices stay as they are. */
function markWatched() {
  for (const row of $("watchlist").tBodies[0].rows) {
    row.classList.toggle("current", row.dataset.symbol === market.symbol);
  }
  const on = watching.symbols.includes(market.symbol);
  $("watch").textContent = on ? "★ Watching" : "☆ Watch";
  $("watch").setAttribute("aria-pressed", String(on));
}

/** The watched symbols' last trades (one snapshot request for all of them). */
async function refreshWatchPrices() {
  if (!watching.symbols.length) return;
  let snaps;
  try {
    snaps = await api("GET", `/v2/stocks/snapshots?symbols=${watching.symbols.map(encodeURIComponent).join(",")}`);
  } catch {
    return;
  }
  for (const row of $("watchlist").tBodies[0].rows) {
    const t = (snaps[row.dataset.symbol] || {}).latestTrade;
    if (t) row.querySelector(".last-price").textContent = price(t.p);
  }
}

$("watch").addEventListener("click", async () => {
  const s = market.symbol;
  if (!s) return;
  try {
    let w;
    if (watching.symbols.includes(s)) {
      w = await api("DELETE", `/v2/watchlists/${watching.id}/${encodeURIComponent(s)}`);
    } else if (watching.id) {
      w = await api("POST", `/v2/watchlists/${watching.id}`, { symbol: s });
    } else {
      w = await api("POST", "/v2/watchlists", { name: WATCHLIST, symbols: [s] });
    }
    keepWatchlist(w);
  } catch (err) {
    toast(err.message);
  }
});

// ---- Start ----

async function clock() {
  try {
    const c = await api("GET", "/v2/clock");
    // The engine matches at any hour; the regular session is the trading day, whose
    // close expires DAY orders.
    $("clock").textContent = c.is_open ? "Regular session" : "Outside regular hours";
    $("clock").title = c.is_open
      ? `Regular session until ${new Date(c.next_close).toLocaleTimeString()}; DAY orders expire then`
      : `Orders still trade; the next regular session opens ${new Date(c.next_open).toLocaleString()}`;
  } catch {
    $("clock").textContent = "";
  }
}

async function start() {
  $("signin").hidden = true;
  $("desk").hidden = false;
  $("logout").hidden = false;
  $("who").textContent = session.user.username;
  if (!market.chart) makeChart();
  const assets = await api("GET", "/v2/assets?status=active");
  const select = $("symbol");
  select.replaceChildren(...assets.map((a) => el("option", { value: a.symbol }, a.symbol)));
  market.names = Object.fromEntries(assets.map((a) => [a.symbol, a.name || ""]));
  select.hidden = assets.length === 0;
  openMarketStream();
  openTradeUpdates();
  openPortfolio();
  openNotifications();
  showTicketFields();
  clock();
  await Promise.all([
    assets.length ? loadSymbol(assets[0].symbol) : Promise.resolve(),
    refreshOrders(),
    loadKeys(),
    loadWatchlist(),
  ]);
  clearInterval(market.bookTimer);
  market.bookTimer = setInterval(refreshBook, 2000);
  clearInterval(watching.timer);
  watching.timer = setInterval(refreshWatchPrices, 3000);
}

$("symbol").addEventListener("change", (e) => loadSymbol(e.target.value).catch((err) => toast(err.message)));

window.addEventListener("DOMContentLoaded", () => {
  session.load();
  if (session.token) {
    // The refresh token proves the session is still good before anything opens.
    renew().then((ok) => ok && start().catch((err) => toast(err.message)));
  }
});

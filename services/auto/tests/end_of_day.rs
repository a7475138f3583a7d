//! The close, on both stores, under a controlled clock that runs ahead of real time
//! (so that everything is entered before the closes it sees): a `day` limit order
//! resting in the book turns `expired` once the close has passed and a `gtc` one rests
//! on; a `day` order entered after the close, for the next session, is not touched
//! until the next close (the end of day is sent once per close). Held conditional
//! orders too: a `day` stop expires at the close, its owner is told once, and a `gtc`
//! stop stays held.

use std::sync::atomic::Ordering;

use axum::http::Method;
use bourse_shell::client::Client;
use bourse_testkit::{Platform, Store, ok, on_both_stores, until};
use serde_json::json;

use bourse_stock::calendar;
use jiff::ToSpan;
use jiff::civil::Date;

/// `h:m:s` on `day`, in exchange time.
fn at(day: Date, h: i8, m: i8, s: i8) -> jiff::Timestamp {
    day.at(h, m, s, 0)
        .to_zoned_datetime(calendar::tz())
        .unwrap()
        .timestamp()
}

/// Two trading days in a row, both closing at 16:00, after today (real time): the
/// test's clock moves forward from the platform's start, whatever day it runs on.
fn two_sessions() -> (Date, Date) {
    let mut day = jiff::Timestamp::now()
        .to_zoned_datetime(calendar::tz())
        .date();
    let full = |d: Date| calendar::session(d).filter(|s| s.close.hour() == 16);
    loop {
        day = day.checked_add(1.day()).unwrap();
        let Some(first) = full(day) else { continue };
        let mut next = day;
        let second = loop {
            next = next.checked_add(1.day()).unwrap();
            if let Some(s) = calendar::session(next) {
                break s;
            }
        };
        if second.close.hour() == 16 {
            return (first.date, second.date);
        }
    }
}

async fn the_close_ends_the_engines_day_once(store: Store) {
    let (day1, day2) = two_sessions();
    let p = Platform::start_on(store).await;
    // 10:00 in New York on a trading day: the market is open.
    p.clock.set(at(day1, 10, 0, 0));
    let (alice_id, alice) = p.user("alice").await;
    p.fund(alice_id, "USD", "100000").await;
    let buy = |tif: &str, price: &str| {
        json!({"symbol": "ACME", "qty": "1", "side": "buy", "type": "limit",
               "time_in_force": tif, "limit_price": price})
    };
    let day = ok(&alice, Method::POST, "/v2/orders", Some(buy("day", "90"))).await;
    let gtc = ok(&alice, Method::POST, "/v2/orders", Some(buy("gtc", "91"))).await;
    // Two held stops: a day one and a gtc one.
    let stop = |tif: &str| {
        json!({"symbol": "ACME", "qty": "1", "side": "buy", "type": "stop",
               "time_in_force": tif, "stop_price": "150"})
    };
    let day_stop = ok(&alice, Method::POST, "/v2/orders", Some(stop("day"))).await;
    let gtc_stop = ok(&alice, Method::POST, "/v2/orders", Some(stop("gtc"))).await;
    let status = |o: &serde_json::Value| {
        let path = format!("/v2/orders/{}", o["id"].as_str().unwrap());
        let alice = alice.clone();
        async move { ok(&alice, Method::GET, &path, None).await["status"].clone() }
    };
    until("both rest", async || {
        status(&day).await == "new" && status(&gtc).await == "new"
    })
    .await;

    // 16:00:01: the close has passed.
    p.clock.set(at(day1, 16, 0, 1));
    until("the day order expired", async || {
        status(&day).await == "expired"
    })
    .await;
    assert_eq!(status(&gtc).await, "new", "a gtc order rests on");
    until("the day stop expired", async || {
        status(&day_stop).await == "expired"
    })
    .await;
    assert_eq!(status(&gtc_stop).await, "held");
    assert_eq!(p.running.day_expired.load(Ordering::Relaxed), 1);
    // The stop's owner is told, once.
    let inbox = Client::new(&p.running.notification_base).with_token(&p.token("alice").await);
    let expiries = async || {
        let page = ok(&inbox, Method::GET, "/v1/notifications", None).await;
        page["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == "expired" && n["order_id"] == day_stop["id"])
            .map(|n| n["title"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    until("the expiry notified", async || !expiries().await.is_empty()).await;

    // A day order entered after the close, for the next session, is not touched by a
    // second look at the same close.
    let late = ok(&alice, Method::POST, "/v2/orders", Some(buy("day", "89"))).await;
    until("the late order rests", async || {
        status(&late).await == "new"
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert_eq!(status(&late).await, "new");
    assert_eq!(
        expiries().await,
        ["Expired: stop buy 1 ACME (held until the close)"],
        "told once"
    );

    // The next session's close ends it.
    p.clock.set(at(day2, 16, 0, 1));
    until("the next close expires it", async || {
        status(&late).await == "expired"
    })
    .await;
    assert_eq!(status(&gtc).await, "new");
}

on_both_stores!(the_close_ends_the_engines_day_once);

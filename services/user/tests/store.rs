//! The user store's contract, run on both implementations: PostgreSQL (a fresh schema)
//! and the embedded SQLite file (a fresh file). What the HTTP tests cannot see from
//! outside: a rolled-back account frees its name but never its id, refresh tokens
//! rotate once and a replay revokes the login, expiry, and the live-key limit.

use std::sync::Arc;
use std::time::Duration;

use bourse_shell::ApiError;
use bourse_shell::auth::{BoxFuture, Role};
use bourse_user::store::lite::LiteUserStore;
use bourse_user::store::pg::PgUserStore;
use bourse_user::store::{Refreshed, UserStore};

const PG: &str = "host=127.0.0.1 user=postgres dbname=test";

/// A fresh store, and what must stay alive (or be dropped) with it.
async fn postgres() -> (Arc<dyn UserStore>, Box<dyn std::any::Any>) {
    let schema = format!(
        "user_store_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_000_000
    );
    let pool = bourse_shell::db::pool(PG, Some(&schema), 2).await.unwrap();
    (Arc::new(PgUserStore::new(pool)), Box::new(schema))
}

async fn sqlite() -> (Arc<dyn UserStore>, Box<dyn std::any::Any>) {
    let dir = tempfile::tempdir().unwrap();
    let lite = bourse_shell::lite::Lite::open(dir.path().join("bourse.db")).unwrap();
    (Arc::new(LiteUserStore::new(lite)), Box::new(dir))
}

async fn drop_schema(keep: Box<dyn std::any::Any>) {
    if let Ok(schema) = keep.downcast::<String>() {
        let pool = bourse_shell::db::pool(PG, None, 1).await.unwrap();
        pool.get()
            .await
            .unwrap()
            .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .await
            .unwrap();
    }
}

fn ok_open(_: u64) -> BoxFuture<'static, Result<(), ApiError>> {
    Box::pin(async { Ok(()) })
}

fn failing_open(_: u64) -> BoxFuture<'static, Result<(), ApiError>> {
    Box::pin(async { Err(ApiError::unavailable("exchange", "down")) })
}

async fn accounts(store: Arc<dyn UserStore>) {
    store.prepare().await.unwrap();
    store.prepare().await.unwrap();
    let first = store
        .create_account("ann", "hash-a", Role::User, &ok_open)
        .await
        .unwrap()
        .expect("created");
    assert_eq!(
        store
            .create_account("ann", "other", Role::User, &ok_open)
            .await
            .unwrap(),
        None,
        "the name is taken"
    );
    let failed = store
        .create_account("bob", "hash-b", Role::User, &failing_open)
        .await;
    assert!(failed.is_err(), "the engine's refusal is the answer");
    assert_eq!(store.login("bob").await.unwrap(), None, "rolled back");
    let bob = store
        .create_account("bob", "hash-b", Role::User, &ok_open)
        .await
        .unwrap()
        .expect("the name is free again");
    assert!(
        bob > first + 1,
        "the rolled-back id is not reused: {first} then {bob}"
    );
    let login = store.login("bob").await.unwrap().unwrap();
    assert_eq!(
        (login.id, login.password_hash.as_str(), login.role),
        (bob, "hash-b", Role::User)
    );
    store.make_admin("bob").await.unwrap();
    assert_eq!(
        store.account(bob).await.unwrap(),
        Some(("bob".to_string(), Role::Admin))
    );
    assert_eq!(store.account(bob + 100).await.unwrap(), None);
    assert!(store.check().check().await.is_ok());
}

async fn refresh_tokens(store: Arc<dyn UserStore>) {
    store.prepare().await.unwrap();
    let user = store
        .create_account("cat", "h", Role::User, &ok_open)
        .await
        .unwrap()
        .unwrap();
    let day = Duration::from_secs(86_400);
    let (t1, t2, t3) = ([1u8; 32], [2u8; 32], [3u8; 32]);
    store.add_refresh(t1, user, "family-1", day).await.unwrap();
    assert_eq!(
        store.rotate_refresh(t1, t2, day).await.unwrap(),
        Refreshed::Rotated {
            user,
            username: "cat".into(),
            role: Role::User
        }
    );
    // t1 again: copied. The whole login is revoked, t2 with it.
    assert_eq!(
        store.rotate_refresh(t1, t3, day).await.unwrap(),
        Refreshed::Reused
    );
    assert_eq!(
        store.rotate_refresh(t2, t3, day).await.unwrap(),
        Refreshed::Dead
    );
    assert_eq!(
        store.rotate_refresh([9; 32], t3, day).await.unwrap(),
        Refreshed::Unknown
    );
    // Expired.
    store
        .add_refresh([4; 32], user, "family-2", Duration::ZERO)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(
        store.rotate_refresh([4; 32], t3, day).await.unwrap(),
        Refreshed::Dead
    );
    // Logout revokes the login once.
    store
        .add_refresh([5; 32], user, "family-3", day)
        .await
        .unwrap();
    assert!(store.revoke_login([5; 32]).await.unwrap());
    assert!(!store.revoke_login([5; 32]).await.unwrap());
    assert_eq!(
        store.rotate_refresh([5; 32], t3, day).await.unwrap(),
        Refreshed::Dead
    );
}

async fn api_keys(store: Arc<dyn UserStore>) {
    store.prepare().await.unwrap();
    let ann = store
        .create_account("ann", "h", Role::Admin, &ok_open)
        .await
        .unwrap()
        .unwrap();
    let bob = store
        .create_account("bob", "h", Role::User, &ok_open)
        .await
        .unwrap()
        .unwrap();
    let made = store
        .create_key(ann, "BKANN0000000001", [7; 32], "first", 2)
        .await
        .unwrap()
        .expect("made");
    assert!(
        made.ends_with('Z') && made.len() == 27,
        "RFC 3339 with micros: {made}"
    );
    store
        .create_key(ann, "BKANN0000000002", [8; 32], "second", 2)
        .await
        .unwrap()
        .expect("made");
    assert_eq!(
        store
            .create_key(ann, "BKANN0000000003", [9; 32], "third", 2)
            .await
            .unwrap(),
        None,
        "at most 2 live keys"
    );
    let listed: Vec<String> = store
        .keys(ann)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.label)
        .collect();
    assert_eq!(listed, ["second", "first"], "newest first");
    let key = store.key("BKANN0000000001").await.unwrap().unwrap();
    assert_eq!(
        (key.user, key.role, key.secret_sha256),
        (ann, Role::Admin, [7; 32])
    );
    assert!(
        !store.revoke_key(bob, "BKANN0000000001").await.unwrap(),
        "not bob's"
    );
    assert!(store.revoke_key(ann, "BKANN0000000001").await.unwrap());
    assert!(
        !store.revoke_key(ann, "BKANN0000000001").await.unwrap(),
        "once"
    );
    assert_eq!(store.key("BKANN0000000001").await.unwrap(), None);
    assert_eq!(
        store.live_keys().await.unwrap(),
        vec![("BKANN0000000002".to_string(), ann, [8; 32])]
    );
    store
        .create_key(ann, "BKANN0000000003", [9; 32], "third", 2)
        .await
        .unwrap()
        .expect("room again after a revoke");
    assert!(store.keys(bob).await.unwrap().is_empty());
}

macro_rules! on_both_stores {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let (store, keep) = super::postgres().await;
                super::$test(store).await;
                super::drop_schema(keep).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (store, _keep) = super::sqlite().await;
                super::$test(store).await;
            }
        }
    )*};
}

on_both_stores!(accounts, refresh_tokens, api_keys);

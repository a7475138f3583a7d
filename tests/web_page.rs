//! The web page in a real browser: `bourse --demo` (its market makers at a gentle pace,
//! so that a debug build's settlement keeps up), and `web/tests/browser.py` driving
//! Debian's Chromium through Playwright against the front address — sign up, the demo
//! market moving, an instrument followed in the watchlist, an invalid order's error, a
//! fill in the portfolio and the notifications, an order rested, replaced and canceled,
//! an API key, and the page at a phone's width (where the watchlist, the account's, is
//! still there; unfollowed from it). Screenshots: `target/tmp/web-page/{desktop,phone}.png`.
//!
//! `scripts/test.sh` installs Chromium (Debian's `chromium`) and Playwright (PyPI) and
//! sets `BOURSE_PYTHON`; `BOURSE_CHROMIUM` names another browser binary.

mod common;

use common::all_in_one::AllInOne;
use common::free_port;

#[test]
fn a_newcomer_signs_up_trades_and_watches_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = format!("tcp://127.0.0.1:{}", free_port());
    let feed = format!("tcp://127.0.0.1:{}", free_port());
    let platform = AllInOne::start(
        &dir.path().join("data"),
        &gateway,
        &feed,
        &["--demo", "--demo-pace-ms", "200"],
    );
    let page = platform.printed("web page");
    assert!(page.ends_with('/'), "{page}");
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-page");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/web/tests/browser.py");
    let run = std::process::Command::new(bourse_testkit::sdk_python())
        .args([script, &page, out.to_str().unwrap()])
        .output()
        .expect("run the browser script");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
    );
    assert!(
        run.status.success() && stdout.contains("web page: all checks passed"),
        "the browser script failed ({}):\n{stdout}\n{stderr}",
        run.status
    );
    for shot in ["desktop.png", "phone.png"] {
        let png = std::fs::read(out.join(shot)).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{shot}");
    }
    eprintln!("screenshots in {}", out.display());
}

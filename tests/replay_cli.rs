//! The `bourse replay` binary, run as a user would.

use std::io::Write;
use std::process::{Command, Stdio};

use bourse_journal::Journal;

fn bourse() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bourse"))
}

/// `bourse ARGS` with its standard input, output and error piped to the test.
fn piped(args: &[&str]) -> std::process::Child {
    bourse()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bourse")
}

const SCENARIO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/core/replay/scenarios/price_time_priority"
);

#[test]
fn replays_a_file_and_stdin_identically() {
    let from_file = bourse()
        .args(["replay", "--state", &format!("{SCENARIO}.jsonl")])
        .output()
        .expect("run bourse");
    assert!(from_file.status.success());
    let expected = std::fs::read_to_string(format!("{SCENARIO}.expected")).expect("expected");
    assert_eq!(String::from_utf8_lossy(&from_file.stdout), expected);

    let mut child = bourse()
        .args(["replay", "--state", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let input = std::fs::read(format!("{SCENARIO}.jsonl")).expect("scenario");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}

#[test]
fn replays_a_journal_to_the_same_events_as_its_commands() {
    let input = std::fs::read_to_string(format!("{SCENARIO}.jsonl")).expect("scenario");
    // Journal the commands exactly as the pipeline would decode them.
    let dir = tempfile::tempdir().expect("tmp");
    let mut journal = Journal::open(dir.path(), 1).expect("journal");
    let mut engine = bourse_core::Engine::default();
    let mut sink = Vec::new();
    for line in input.lines() {
        let cmd = bourse_replay::json::parse_command(line, &engine);
        engine.execute(&cmd, &mut sink);
        journal.append(&cmd);
    }
    journal.commit().expect("commit");
    let out = bourse()
        .args(["replay", "--state", "--journal"])
        .arg(dir.path())
        .output()
        .expect("run bourse");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = std::fs::read_to_string(format!("{SCENARIO}.expected")).expect("expected");
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}

#[test]
fn a_missing_file_is_a_clear_error_not_a_panic() {
    let out = bourse()
        .args(["replay", "/no/such/file.jsonl"])
        .output()
        .expect("run bourse");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/no/such/file.jsonl"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Preallocated segments, as the gateway writes them: each ends in zeros until it is
/// cut back, and a crash right after a new one was started leaves it all zeros.
#[test]
fn replays_a_multi_segment_preallocated_journal_far_beyond_any_read_window() {
    let w = bourse_workload::generate(bourse_workload::WorkloadConfig::single_symbol(60_000));
    let dir = tempfile::tempdir().expect("tmp");
    let options = bourse_journal::JournalOptions {
        segment_bytes: 256 << 10,
    };
    let mut journal = Journal::open_with(dir.path(), 1, options).expect("journal");
    let mut engine = bourse_core::Engine::new(w.config.engine_config());
    let mut events = Vec::new();
    for (i, cmd) in w.setup.iter().chain(&w.commands).enumerate() {
        journal.append(cmd);
        engine.execute(cmd, &mut events);
        if i % 20_000 == 19_999 {
            journal.rotate().expect("rotate");
        } else if i % 1_000 == 999 {
            journal.commit().expect("commit");
        }
    }
    let last = journal.commit().expect("commit");
    drop(journal);
    std::fs::write(
        dir.path().join(format!("wal-{:020}.log", last + 1)),
        vec![0u8; 64 << 10],
    )
    .expect("a blank newest segment");
    assert!(bourse_journal::segments(dir.path()).unwrap().len() >= 4);
    let out = bourse()
        .args(["replay", "--journal"])
        .arg(dir.path())
        .output()
        .expect("run bourse");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), events.len(), "one line per event");
    let last: serde_json::Value = serde_json::from_str(lines[lines.len() - 1]).unwrap();
    assert_eq!(last["seq"], events.last().unwrap().seq.0);
}

#[test]
fn output_cut_short_by_its_reader_is_not_an_error() {
    // A long replay into a pipe closed after the first line, as `| head -1` does.
    let mut child = piped(&["replay", "-"]);
    let mut stdin = child.stdin.take().expect("stdin");
    let feeder = std::thread::spawn(move || {
        let line = "{\"op\":\"add_user\",\"user\":1}\n".repeat(200_000);
        let _ = stdin.write_all(line.as_bytes());
    });
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 64];
    let _ = std::io::Read::read(&mut stdout, &mut first).expect("some output");
    drop(stdout);
    let out = child.wait_with_output().expect("wait");
    let _ = feeder.join();
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn an_error_is_one_line_even_with_backtraces_asked_for() {
    let out = bourse()
        .args(["replay", "/no/such/file.jsonl"])
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run bourse");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("bourse: error: opening /no/such/file.jsonl: "),
        "{err}"
    );
}

#[test]
fn a_malformed_line_is_explained_on_stderr_and_the_replay_goes_on() {
    let mut child = piped(&["replay", "-"]);
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"{\"op\":\"add_user\",\"user\":1}\n\n{\"op\":\"new\",\"user\":1,\"id\":\"a\",\"type\":\"limit\",\"price\":\"12\"}\n{\"op\":\"add_user\",\"user\":2}\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end(),
        "bourse replay: -:3: malformed, `price`: a number (rejected; the replay goes on)"
    );
    let events = String::from_utf8_lossy(&out.stdout);
    assert_eq!(events.lines().count(), 3, "{events}");
    assert!(events.lines().nth(1).unwrap().contains("\"malformed\""));
}

#[test]
fn a_journal_pruned_after_a_snapshot_replays_from_the_snapshot() {
    let input = std::fs::read_to_string(format!("{SCENARIO}.jsonl")).expect("scenario");
    let lines: Vec<&str> = input.lines().filter(|l| !l.trim().is_empty()).collect();
    let dir = tempfile::tempdir().expect("tmp");
    let mut journal = Journal::open(dir.path(), 1).expect("journal");
    let mut engine = bourse_core::Engine::default();
    let mut sink = Vec::new();
    let half = lines.len() / 2;
    let mut events_at_snapshot = 0;
    for (i, line) in lines.iter().enumerate() {
        let cmd = bourse_replay::json::parse_command(line, &engine);
        engine.execute(&cmd, &mut sink);
        let seq = journal.append(&cmd);
        if i + 1 == half {
            // As the gateway does: commit, rotate, snapshot, prune what it covers.
            journal.rotate().expect("rotate");
            bourse_journal::write_snapshot(dir.path(), seq, &engine.state()).expect("snapshot");
            journal.prune(seq).expect("prune");
            events_at_snapshot = engine.seq().0;
        }
    }
    journal.commit().expect("commit");
    assert_eq!(
        bourse_journal::segments(dir.path()).unwrap().len(),
        1,
        "the first segment was pruned"
    );
    let out = bourse()
        .args(["replay", "--state", "--journal"])
        .arg(dir.path())
        .output()
        .expect("run bourse");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("starting from"), "{err}");
    // The events after the snapshot and the end state, exactly as a full replay says.
    let expected = std::fs::read_to_string(format!("{SCENARIO}.expected")).expect("expected");
    let tail: Vec<&str> = expected
        .lines()
        .filter(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.get("seq")
                .and_then(serde_json::Value::as_u64)
                .is_none_or(|s| s > events_at_snapshot)
        })
        .collect();
    let got = String::from_utf8_lossy(&out.stdout);
    assert_eq!(got.lines().collect::<Vec<_>>(), tail);
}

//! `bourse loadgen`, briefly: both child servers start, every command sent is answered
//! and counted, and the reports say so. (The real runs, with their figures, are in
//! PERF.md; this only proves the tool works end to end.)

use std::process::Command;

#[test]
fn a_short_sweep_answers_every_command_and_writes_both_reports() {
    let out = tempfile::tempdir().expect("temp dir");
    let run = Command::new(env!("CARGO_BIN_EXE_bourse"))
        .args(["loadgen", "--rate", "1000,2000", "--seconds", "1"])
        .args(["--sessions", "3", "--out"])
        .arg(out.path())
        .output()
        .expect("run bourse loadgen");
    assert!(
        run.status.success(),
        "loadgen failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let json = std::fs::read_to_string(out.path().join("loadgen.json")).expect("json report");
    let report: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let runs = report["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2);
    for (run, rate) in runs.iter().zip([1000, 2000]) {
        assert_eq!(run["rate"], rate);
        for path in ["floor", "gateway"] {
            assert_eq!(run[path]["sent"], rate, "{path} at {rate}/s");
            assert_eq!(
                run[path]["answered"], run[path]["sent"],
                "{path} at {rate}/s: every command answered"
            );
            let (p50, p99) = (
                run[path]["p50_us"].as_f64().expect("p50"),
                run[path]["p99_us"].as_f64().expect("p99"),
            );
            assert!(p50 > 0.0 && p50 <= p99, "{path}: p50 {p50} p99 {p99}");
        }
        // The gateway's own stage histograms saw every command at every stage.
        for stage in ["durable", "matched", "reported"] {
            assert_eq!(
                run["inside"][stage]["count"], rate,
                "{stage} at {rate}/s: {}",
                run["inside"]
            );
        }
        assert!(run["inside"]["fsync"]["count"].as_u64().unwrap() >= 1);
    }
    let md = std::fs::read_to_string(out.path().join("loadgen.md")).expect("markdown report");
    assert!(md.contains("| 2000 | **Bourse gateway**"), "{md}");
    assert!(md.contains("| 2000 | reported | 2000 |"), "{md}");
}

#[test]
fn the_demos_load_runs_against_its_floor_and_then_the_gateway() {
    let run = Command::new(env!("CARGO_BIN_EXE_bourse"))
        .args(["loadgen", "--demo", "--seconds", "3", "--reps", "1"])
        .output()
        .expect("run bourse loadgen --demo");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "loadgen --demo failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(!stdout.contains("refused"), "{stdout}");
    let row = stdout
        .lines()
        .find(|l| l.starts_with("| 1 |"))
        .unwrap_or_else(|| panic!("no row for pair 1: {stdout}"));
    let microseconds: Vec<f64> = row
        .split('|')
        .filter_map(|cell| {
            let cell = cell.trim().trim_matches('*');
            cell.split(' ').next()?.parse().ok()
        })
        .collect();
    // pair, floor p50 and p99, gateway p50 and p99, inside p50, fsync p50 and p99.9.
    let [_, floor50, floor99, p50, p99, inside, fsync, ..] = microseconds[..] else {
        panic!("{row}")
    };
    assert!(floor50 > 0.0 && floor50 <= floor99, "{row}");
    assert!(p50 > 0.0 && p50 <= p99, "{row}");
    // Syncs were timed, and the gateway's share of a round trip includes its sync.
    assert!(fsync > 0.0 && inside >= fsync * 0.75, "{row}");
    assert_eq!(
        row.matches(": met").count() + row.matches(": missed").count(),
        2,
        "{row}"
    );
}

//! Scenario tests: every `scenarios/NAME.jsonl` replayed with `--state` must give exactly
//! `scenarios/NAME.expected` (compared line by line as JSON values).

use std::fs;
use std::path::Path;

use serde_json::Value;

#[test]
fn every_scenario_gives_its_expected_events_and_state() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut ran = 0;
    let mut entries: Vec<_> = fs::read_dir(&dir)
        .expect("scenarios folder")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    entries.sort();
    for input in entries {
        let expected_path = input.with_extension("expected");
        let expected = fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{} has no .expected file", input.display()));
        let commands = fs::read_to_string(&input).expect("read scenario");
        let actual = bourse_replay::replay_str(&commands, true);
        let parse = |s: &str| -> Vec<Value> {
            s.lines()
                .map(|l| serde_json::from_str(l).expect("valid JSON line"))
                .collect()
        };
        let (want, got) = (parse(&expected), parse(&actual));
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            assert_eq!(g, w, "{}: line {} differs", input.display(), i + 1);
        }
        assert_eq!(got.len(), want.len(), "{}: line count", input.display());
        ran += 1;
    }
    assert!(ran >= 10, "only {ran} scenarios found");
}

#[test]
fn sequence_numbers_rise_by_one_and_blank_lines_are_skipped() {
    let out = bourse_replay::replay_str(
        "{\"op\":\"add_user\",\"user\":1}\n\n   \n{\"op\":\"add_user\",\"user\":1}\n",
        false,
    );
    let seqs: Vec<u64> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, vec![1, 2]);
    assert!(out.contains("duplicate_id"));
}

//! Crash test: a child process writing the journal is killed with SIGKILL at random
//! points, again and again on the same directory. After every kill, recovery must hold
//! every command the child acknowledged, and its state hash must equal a clean replay of
//! exactly the recovered commands.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bourse_core::Engine;
use bourse_journal::{frame, recover};
use bourse_workload::{Rng, WorkloadConfig, generate};

const COMMANDS: usize = 12_000;
const ROUNDS: u64 = 15;

fn crash_writer() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_journal-crash-writer"))
}

fn clean_hash(all: &[bourse_core::Command], n: usize, cfg: WorkloadConfig) -> u64 {
    let mut e = Engine::new(cfg.engine_config());
    let mut sink = Vec::new();
    for c in &all[..n] {
        sink.clear();
        e.execute(c, &mut sink);
    }
    e.state().hash()
}

#[test]
fn every_acknowledged_command_survives_kill_9() {
    let cfg = WorkloadConfig::single_symbol(COMMANDS);
    let w = generate(cfg);
    let all: Vec<_> = w.setup.iter().chain(&w.commands).copied().collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let input_dir = tempfile::tempdir().expect("temp dir");
    let input = input_dir.path().join("commands.log");
    let mut bytes = Vec::new();
    for (i, c) in all.iter().enumerate() {
        frame(i as u64 + 1, 0, c, &mut bytes);
    }
    std::fs::write(&input, bytes).expect("write input");
    let exe = crash_writer();
    let mut rng = Rng::new(42);
    let mut finished = false;
    let mut kills = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .arg(dir.path())
            .arg(&input)
            .arg("1500")
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn crash_writer");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
        let kill_after = 1 + rng.below(120);
        let mut acked = 0u64;
        let mut line = String::new();
        let mut seen = 0;
        let start = Instant::now();
        // Read acks until the chosen kill point (or the end), then SIGKILL.
        while seen < kill_after && start.elapsed() < Duration::from_secs(60) {
            line.clear();
            if lines.read_line(&mut line).expect("read child") == 0 {
                break;
            }
            if let Some(seq) = line.strip_prefix("ack ") {
                acked = seq.trim().parse().expect("ack seq");
                seen += 1;
            } else if line.starts_with("done") {
                finished = true;
                break;
            }
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        kills += 1;
        // Acks the child printed before it died count too.
        loop {
            line.clear();
            if lines.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            if let Some(seq) = line.strip_prefix("ack ") {
                acked = acked.max(seq.trim().parse().expect("ack seq"));
            }
            finished |= line.starts_with("done");
        }
        let rec = recover(dir.path(), cfg.engine_config()).expect("recovery");
        eprintln!(
            "round {round}: acked {acked}, recovered {} (snapshot {:?}, replayed {}, cut {} torn bytes)",
            rec.last_seq, rec.snapshot_seq, rec.replayed, rec.truncated_bytes
        );
        assert!(
            rec.last_seq >= acked,
            "round {round}: acknowledged {acked} but recovered only {}",
            rec.last_seq
        );
        assert_eq!(
            rec.engine.state().hash(),
            clean_hash(&all, rec.last_seq as usize, cfg),
            "round {round}: recovered state differs from a clean replay of {} commands",
            rec.last_seq
        );
        if finished {
            assert_eq!(rec.last_seq as usize, all.len());
            break;
        }
    }
    assert!(
        kills >= 3,
        "the writer finished before it could be killed enough"
    );
    // Let a last writer finish the stream, then check the end state.
    if !finished {
        let status = Command::new(&exe)
            .arg(dir.path())
            .arg(&input)
            .arg("1500")
            .stdout(Stdio::null())
            .status()
            .expect("final writer");
        assert!(status.success());
    }
    let rec = recover(dir.path(), cfg.engine_config()).expect("final recovery");
    assert_eq!(rec.last_seq as usize, all.len());
    assert_eq!(rec.engine.state().hash(), clean_hash(&all, all.len(), cfg));
    assert!(rec.snapshot_seq.is_some(), "snapshots were taken and used");
}

/// A power cut can leave half a write behind, which SIGKILL rarely does: damage the tail
/// of the newest segment in every way (cut anywhere, garbage appended, a bit flipped)
/// and check recovery cuts exactly the damaged part and nothing acknowledged before it.
#[test]
fn torn_and_corrupt_tails_are_cut_never_misread() {
    let cfg = WorkloadConfig::single_symbol(400);
    let w = generate(cfg);
    let all: Vec<_> = w.setup.iter().chain(&w.commands).copied().collect();
    let mut rng = Rng::new(7);
    for trial in 0..40 {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut j = bourse_journal::Journal::open(dir.path(), 1).expect("open");
        let mut ends = vec![0u64];
        let mut bytes = Vec::new();
        for (i, c) in all.iter().enumerate() {
            j.append(c);
            bytes.clear();
            frame(i as u64 + 1, 0, c, &mut bytes);
            ends.push(ends.last().copied().unwrap_or(0) + bytes.len() as u64);
        }
        j.commit().expect("commit");
        drop(j);
        let seg = dir.path().join("wal-00000000000000000001.log");
        let full = std::fs::read(&seg).expect("segment");
        let cut = rng.below(full.len() as u64 + 1) as usize;
        let mut damaged = full[..cut].to_vec();
        match trial % 3 {
            0 => {}
            1 => damaged.extend((0..rng.below(40)).map(|_| rng.below(256) as u8)),
            _ if cut > 0 => damaged[rng.below(cut as u64) as usize] ^= 1 << rng.below(8),
            _ => {}
        }
        std::fs::write(&seg, &damaged).expect("damage");
        let rec = recover(dir.path(), cfg.engine_config()).expect("recovery");
        let n = rec.last_seq as usize;
        // Everything recovered is a whole, original record, and nothing whole before
        // the damage was dropped (a flipped bit cuts from the record it hit).
        assert!(ends[n] as usize <= damaged.len());
        assert_eq!(&damaged[..ends[n] as usize], &full[..ends[n] as usize]);
        if trial % 3 != 2 {
            assert_eq!(
                ends[n],
                ends.iter()
                    .copied()
                    .filter(|&e| e as usize <= cut)
                    .max()
                    .unwrap_or(0)
            );
        }
        assert_eq!(
            rec.engine.state().hash(),
            clean_hash(&all, n, cfg),
            "trial {trial}"
        );
        assert_eq!(
            std::fs::metadata(&seg).expect("seg").len(),
            ends[n],
            "tail was cut"
        );
    }
}

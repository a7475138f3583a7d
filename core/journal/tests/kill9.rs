//! Crash test: a child process writing the journal is killed with SIGKILL at random
//! points, again and again on the same directory. After every kill, recovery must hold
//! every command the child acknowledged, and its state hash must equal a clean replay of
//! exactly the recovered commands. Run with growing segments and with small preallocated
//! ones (many segment changes, spares taken and half-made when the kill comes).

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
    kill_9_again_and_again(None);
}

#[test]
fn every_acknowledged_command_survives_kill_9_with_preallocated_segments() {
    kill_9_again_and_again(Some(16 << 10));
}

fn kill_9_again_and_again(segment_bytes: Option<u64>) {
    let segment = segment_bytes.map(|b| b.to_string());
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
    let (mut full_sized_newest, mut moved_on) = (false, false);
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .arg(dir.path())
            .arg(&input)
            .arg("1500")
            .args(&segment)
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
        // What the kill left: with preallocation, segments the writer moved on from
        // (cut back to their records) and a newest one of the spare's full size.
        let segments = bourse_journal::segments(dir.path()).expect("segments");
        let sizes: Vec<u64> = segments
            .iter()
            .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
            .collect();
        if let Some(bytes) = segment_bytes {
            full_sized_newest |= sizes.last() == Some(&bytes);
            moved_on |= sizes[..sizes.len().saturating_sub(1)]
                .iter()
                .any(|&s| s > 0 && s < bytes);
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
    if segment_bytes.is_some() {
        assert!(
            full_sized_newest && moved_on,
            "preallocated segments were used ({full_sized_newest}) and left when full ({moved_on})"
        );
    }
    // Let a last writer finish the stream, then check the end state.
    if !finished {
        let status = Command::new(&exe)
            .arg(dir.path())
            .arg(&input)
            .arg("1500")
            .args(&segment)
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
    torn_tails(false);
}

/// The same in a preallocated segment, where whatever was written is followed by the
/// zeros it was filled with: zeros end the records cleanly (nothing torn), anything
/// else after the last whole record is cut.
#[test]
fn torn_tails_of_a_preallocated_segment_are_cut_and_its_zeros_are_not_records() {
    torn_tails(true);
}

fn torn_tails(preallocated: bool) {
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
        let written = damaged.len();
        if preallocated {
            damaged.resize(written + 24 + rng.below(4096) as usize, 0);
        }
        std::fs::write(&seg, &damaged).expect("damage");
        let rec = recover(dir.path(), cfg.engine_config()).expect("recovery");
        let n = rec.last_seq as usize;
        if preallocated {
            // Zeros right after the last whole record are the clean end of what was
            // written; anything else is a torn tail.
            assert_eq!(
                rec.truncated_bytes == 0,
                damaged[ends[n] as usize..].iter().all(|&b| b == 0),
                "trial {trial}: cut {} bytes of {written} written, {} kept",
                rec.truncated_bytes,
                ends[n]
            );
        }
        // Everything recovered is a whole, original record, and nothing whole before
        // the damage was dropped (a flipped bit cuts from the record it hit).
        assert!(ends[n] as usize <= damaged.len());
        assert_eq!(&damaged[..ends[n] as usize], &full[..ends[n] as usize]);
        if trial % 3 != 2 {
            // Every record whose bytes are all there is kept (in a preallocated segment a
            // record cut where its own bytes were zeros is whole again).
            assert_eq!(
                ends[n],
                ends.iter()
                    .copied()
                    .filter(|&e| e as usize <= damaged.len()
                        && damaged[..e as usize] == full[..e as usize])
                    .max()
                    .unwrap_or(0),
                "trial {trial}"
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

//! `docs/events.md` tells a consumer in another language how to read an envelope, with
//! a Python reader. This runs that reader, as the page prints it, on envelopes the
//! publisher packs, and checks it reads back exactly the messages packed.

use std::process::Command;

use bourse_bus::Message;
use bourse_bus::envelope::{pack, stream_of, unpack};

/// The page's Python block under its "Envelopes" heading.
fn documented_reader() -> String {
    let page =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/events.md"))
            .expect("docs/events.md");
    let section = page
        .split("## Envelopes")
        .nth(1)
        .expect("an Envelopes section");
    let code = section
        .split("```python\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a Python block in the Envelopes section");
    code.to_string()
}

#[test]
fn the_documented_python_reader_reads_what_the_publisher_packs() {
    let messages: Vec<Message> = (1..=1_500u64)
        .flat_map(|seq| {
            let body = format!("{{\"event\":\"trade\",\"seq\":{seq}}}").into_bytes();
            let keys = if seq % 3 == 0 {
                // A trade: three keys, one body (the repeated-body entries).
                vec![
                    format!("exec.{}", seq % 7),
                    format!("exec.{}", seq % 11),
                    "trade.ACME".into(),
                ]
            } else {
                vec![format!("account.{}", seq % 5)]
            };
            keys.into_iter().map(move |routing_key| Message {
                routing_key,
                seq,
                prev_seq: (seq % 4 != 0).then(|| seq - 1),
                body: body.clone(),
            })
        })
        .collect();
    let envelopes = pack(&messages).unwrap();
    assert!(envelopes.len() > 1, "several envelopes");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("read.py");
    std::fs::write(
        &script,
        format!(
            "{}\nimport json, sys\nfor path in sys.argv[1:]:\n    for key, seq, prev, body in entries(open(path, 'rb').read()):\n        print(json.dumps([key, seq, prev, body.decode()]))\n",
            documented_reader()
        ),
    )
    .unwrap();
    let mut paths = Vec::new();
    for (i, e) in envelopes.iter().enumerate() {
        let p = dir.path().join(format!("{i}.bin"));
        std::fs::write(&p, &e.body).unwrap();
        paths.push(p);
    }
    let python = std::env::var("BOURSE_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .arg(&script)
        .args(&paths)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Vec<Message> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (key, seq, prev, body): (String, u64, Option<u64>, String) =
                serde_json::from_str(line).unwrap();
            Message {
                routing_key: key,
                seq,
                prev_seq: prev,
                body: body.into_bytes(),
            }
        })
        .collect();
    // Exactly what the Rust reader takes out of the same envelopes, in the same order…
    let unpacked: Vec<Message> = envelopes
        .iter()
        .flat_map(|e| {
            unpack(&e.body)
                .unwrap()
                .iter()
                .map(|entry| entry.to_message())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(read, unpacked);
    // …which is every message packed, each stream in its order.
    for stream in ["account", "market"] {
        let of = |ms: &[Message]| -> Vec<Message> {
            ms.iter()
                .filter(|m| stream_of(&m.routing_key) == stream)
                .cloned()
                .collect()
        };
        assert_eq!(of(&read), of(&messages), "the {stream} stream");
    }
    assert_eq!(read.len(), messages.len());
}

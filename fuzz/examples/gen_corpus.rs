//! Writes the committed seed corpus, `corpus/<target>/seed-*`, deterministically:
//! `cargo run --example gen_corpus` from `fuzz/` (stable is fine).

use std::fs;
use std::path::Path;

use autonomic_core::engine::{ActionCommand, Engine, EngineConfig};
use autonomic_core::storage::{Capacities, OwnedStorage};
use autonomic_core::{Action, EntitlementCommand, RawSignal};
use autonomic_fuzz::frame;
use autonomic_tests::rng::SplitMix64;

/// 8 tenants, 64 receipts, 256 dedup ids.
const CAPS: Capacities = Capacities {
    tenant_id_bytes: 8 * 256,
    dedup_ids: 256,
    receipts: 64,
    ..Capacities::with_tenants(8)
};

/// A short history touching every event kind; returns its records.
fn history() -> Vec<Vec<u8>> {
    let mut mem = OwnedStorage::new(&CAPS);
    let mut e = Engine::new(EngineConfig::default(), mem.storage()).expect("config");
    let mut records = Vec::new();
    let drain = |e: &mut Engine<'_>, records: &mut Vec<Vec<u8>>| {
        while let Some(r) = e.poll_record() {
            records.push(r.to_vec());
        }
        let mut runs = Vec::new();
        while let Some(c) = e.poll_action() {
            if let ActionCommand::Run { receipt, .. } = c {
                runs.push(receipt);
            }
        }
        runs
    };
    let activate = EntitlementCommand::Activate {
        sku: "pro",
        expires_at_ms: None,
    };
    e.handle_entitlement(0, "acme", activate).expect("activate");
    e.handle_entitlement(
        0,
        "globex",
        EntitlementCommand::Provision { sku: "starter" },
    )
    .expect("provision");
    drain(&mut e, &mut records);
    for (i, v) in [45.0, 78.0, 78.0, 92.0].into_iter().enumerate() {
        let ts = 1_000 + 5_000 * i as u64;
        let raw = RawSignal {
            tenant: "acme",
            metric: "cpu",
            value: v,
            ts_ms: ts,
        };
        e.handle_signal(ts, &raw).expect("signal");
    }
    let runs = drain(&mut e, &mut records);
    e.handle_outcome(20_000, "acme", runs.first().copied(), true, b"max 100000")
        .expect("outcome");
    drain(&mut e, &mut records);
    let done = e.rollbackable().next().expect("a completed action");
    e.handle_rollback(21_000, done).expect("rollback");
    e.handle_rollback_outcome(21_500, done, true)
        .expect("rollback outcome");
    let rev = Action::rollback("release-2024.1").expect("revision");
    e.handle_action(22_000, "acme", rev).expect("manual");
    e.handle_timeout(60_000);
    e.handle_entitlement(60_000, "acme", EntitlementCommand::Pause)
        .expect("pause");
    e.handle_reset(60_000, "acme").expect("reset");
    drain(&mut e, &mut records);
    records
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).expect("mkdir");
    fs::write(dir.join(name), bytes).expect("write");
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let records = history();

    let dir = root.join("receipt_decode");
    for (i, r) in records.iter().enumerate() {
        write(&dir, &format!("seed-{i:02}"), r);
    }

    let dir = root.join("ledger_bytes");
    let mut whole = vec![0u8];
    whole.extend(frame(&records));
    write(&dir, "seed-00-chain", &whole);
    let bodies: Vec<Vec<u8>> = records.iter().map(|r| r[..r.len() - 64].to_vec()).collect();
    let mut sealed = vec![1u8];
    sealed.extend(frame(&bodies));
    write(&dir, "seed-01-bodies", &sealed);
    let mut flipped = vec![3u8 | (3 << 3)];
    flipped.extend(frame(&bodies));
    write(&dir, "seed-02-flip", &flipped);
    let mut forged = vec![5u8 | (4 << 3)];
    forged.extend(frame(&bodies));
    write(&dir, "seed-04-forged-link", &forged);
    let mut cut = vec![0u8];
    cut.extend(frame(&records));
    cut.truncate(cut.len() - 40);
    write(&dir, "seed-03-torn", &cut);

    let dir = root.join("signal_json");
    let replay = [
        r#"{"type":"activate","tenant":"acme","sku":"pro"}"#,
        r#"{"type":"signal","tenant":"acme","metric":"cpu","value":45.0,"ts_ms":1000}"#,
        r#"{"type":"signal","tenant":"acme","metric":"cpu","value":78.0,"ts_ms":6000,"now_ms":6000}"#,
        r#"{"type":"signal","tenant":"acme","metric":"CPU","value":78.0,"ts_ms":11000}"#,
        r#"{"type":"signal","tenant":"acme","metric":"cpu","value":92.0,"ts_ms":16000}"#,
        r#"{"type":"action_succeeded","tenant":"acme"}"#,
        r#"{"type":"signal","tenant":"acme","metric":"cpu","value":55.0,"ts_ms":21000}"#,
        r#"{"type":"signal","tenant":"acme","metric":"cpu","value":55.0,"ts_ms":21000}"#,
        r#"{"type":"signal","tenant":"","metric":"disk","value":101,"ts_ms":1}"#,
        r#"{"type":"action_failed","tenant":"acme"}"#,
        r#"{"type":"reset","tenant":"acme"}"#,
        r#"{"type":"pause","tenant":"acme"}"#,
        r#"{"type":"resume","tenant":"acme"}"#,
        r#"{"type":"revoke","tenant":"acme"}"#,
        r#"not json"#,
    ];
    write(&dir, "seed-00-replay", replay.join("\n").as_bytes());
    let body = r#"[{"tenant":"acme","metric":"cpu","value":74.5,"ts_ms":5000},{"tenant":"acme","metric":"memory","value":99.9,"ts_ms":5001},{"tenant":"b","metric":"latency","value":-1,"ts_ms":0}]"#;
    write(&dir, "seed-01-body-array", body.as_bytes());
    let one = r#"{"tenant":"acme","metric":"error_rate","value":90,"ts_ms":7200000,"now_ms":0}"#;
    write(&dir, "seed-02-body-one", one.as_bytes());

    let dir = root.join("governor_ops");
    let mut rng = SplitMix64::new(0x5EED);
    for (i, len) in [64usize, 256, 1024, 4096, 4096].into_iter().enumerate() {
        let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        write(&dir, &format!("seed-{i:02}"), &bytes);
    }
    println!("corpus written to {}", root.display());
}

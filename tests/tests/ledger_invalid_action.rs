//! A ledger file whose frames, checksums and hash chain are all right, but one of whose
//! receipts dispatches an action no constructor would build (`Throttle { percent: 150 }`, a
//! rollback revision with a space or empty): `autonomic verify` exits 1 naming the record and
//! its byte offset, and `autonomic run` refuses to start on it, naming the same.

mod cli_support;

use std::path::Path;

use autonomic_core::action::Revision;
use autonomic_core::engine::{Engine, EngineConfig};
use autonomic_core::limits::RECORD_MAX_BYTES;
use autonomic_core::storage::{Capacities, OwnedStorage};
use autonomic_core::{Action, EntitlementCommand, Event, Receipt};
use autonomic_tokio::ledger_file::{FILE_NAME, FsyncPolicy, LedgerFile};
use cli_support::{Sidecar, config, frames, run};

/// The engine's own receipt 0 for `acme` activated on `pro`.
fn activation() -> Vec<u8> {
    let mut mem = OwnedStorage::new(&Capacities::with_tenants(4));
    let mut engine = Engine::new(EngineConfig::default(), mem.storage()).expect("default config");
    let activate = EntitlementCommand::Activate {
        sku: "pro",
        expires_at_ms: None,
    };
    engine
        .handle_entitlement(1_000, "acme", activate)
        .expect("activate");
    engine.poll_record().expect("receipt 0").to_vec()
}

/// Receipt 1, chained to `first` and sealed with its correct hash: `acme` dispatches `action`.
fn dispatch_after(first: &[u8], action: Action) -> Vec<u8> {
    let first = Receipt::decode(first).expect("receipt 0 decodes");
    let mut receipt = Receipt {
        seq: 1,
        ts_ms: first.ts_ms,
        tenant: first.tenant,
        event: Event::ActionDispatched {
            action,
            deadline_ms: first.ts_ms + 30_000,
            manual: true,
        },
        prev_hash: first.hash,
        hash: [0; 32],
    };
    let mut buf = [0u8; RECORD_MAX_BYTES];
    receipt.seal_into(&mut buf).expect("fits").to_vec()
}

/// A data dir whose ledger holds receipt 0 and a receipt 1 dispatching `action`, committed.
fn data_dir_with(dir: &Path, action: Action) {
    let (mut ledger, _) = LedgerFile::open(dir, FsyncPolicy::Always, |_, _| Ok(())).expect("open");
    let first = activation();
    ledger.append(&first).expect("append 0");
    ledger
        .append(&dispatch_after(&first, action))
        .expect("append 1");
    ledger.commit().expect("commit");
}

fn rollback_to(revision: &str) -> Action {
    Action::Rollback {
        revision: Revision::try_from(revision).expect("fits"),
    }
}

#[test]
fn verify_and_run_refuse_a_well_hashed_receipt_whose_action_is_invalid() {
    // Proves the binary re-checks every decoded action: verify exits 1 with one line naming
    // record 1 at its frame's byte offset as not a valid receipt, and run refuses to start.
    for (name, action) in [
        ("throttle 150", Action::Throttle { percent: 150 }),
        ("revision with a space", rollback_to("a b")),
        ("empty revision", rollback_to("")),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        data_dir_with(&data, action);
        let offset = frames(&data.join(FILE_NAME))[1].0;
        let data_arg = data.to_str().expect("utf-8");

        let verify = run(&["verify", "--data-dir", data_arg], None);
        let stderr = String::from_utf8_lossy(&verify.stderr).into_owned();
        assert_eq!(verify.status.code(), Some(1), "{name}: {stderr}");
        let at = format!("record 1 at byte {offset}: ");
        assert!(stderr.contains(&at), "{name}: {at:?} not in {stderr}");
        assert!(
            stderr.contains("record is not a valid receipt"),
            "{name}: {stderr}"
        );
        assert!(verify.stdout.is_empty(), "{name}: nothing verified");

        // `Sidecar` runs `run --data-dir <dir>/data`: the ledger written above.
        let stderr = match Sidecar::try_start(dir.path(), &config("")) {
            Ok(_) => panic!("{name}: run started on the ledger"),
            Err(stderr) => stderr,
        };
        assert!(
            stderr.contains("exited with exit status: 1"),
            "{name}: {stderr}"
        );
        assert!(stderr.contains(&at), "{name}: {at:?} not in {stderr}");
    }
}

#[test]
fn verify_accepts_the_same_ledger_with_actions_at_the_edges_of_the_rules() {
    // Proves the refusal is the rule, not the forging: the same file with Throttle(100) or a
    // 128-byte visible revision verifies (exit 0, 2 receipts).
    for action in [
        Action::Throttle { percent: 100 },
        rollback_to(&"~".repeat(128)),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        data_dir_with(dir.path(), action.clone());
        let verify = run(
            &["verify", "--data-dir", dir.path().to_str().expect("utf-8")],
            None,
        );
        let stdout = String::from_utf8_lossy(&verify.stdout);
        assert!(
            verify.status.success(),
            "{action:?}: {}",
            String::from_utf8_lossy(&verify.stderr)
        );
        assert!(stdout.starts_with("ok: 2 receipts, head seq 1"), "{stdout}");
    }
}

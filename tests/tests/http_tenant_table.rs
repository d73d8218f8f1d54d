//! The tenant table through the real binary: it holds `max_tenants` tenants whose ids fit in
//! `tenant_id_bytes`. Filled over HTTP, it answers 409 `TenantTableFull` (not 503: retrying
//! does not help), reuses the slot of the tenant revoked longest ago, and a restart whose
//! config adds tenants to a full table starts anyway, skipping (at WARN) those that do not
//! fit. A full id arena refuses a new tenant the same way, and a restart with capacities too
//! small for the ledger's tenants is refused with a message naming the keys.

mod cli_support;

use cli_support::{Sidecar, config};

const TABLE: usize = 256;

fn activate(s: &Sidecar, id: &str) -> cli_support::Response {
    s.post(
        &format!("/v1/tenants/{id}/activate"),
        r#"{"sku":"starter"}"#,
    )
}

#[test]
fn a_full_table_is_409_reuses_revoked_slots_and_never_stops_a_restart() {
    // Proves: the 257th tenant (max_tenants = 256) gets 409 TenantTableFull without Retry-After and nothing is
    // added; after revoking t17 then t5 the next new tenant takes t17's slot (revoked first)
    // while t5 stays Terminated (activate -> 409 InvalidStateTransition); the state survives
    // a restart; and a restart whose config adds two tenants to the full table starts, the
    // first taking t5's slot, the second skipped with a WARN naming it.
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("s");
    let base = config("fsync = \"batch\"\nmax_tenants = 256\n");
    let mut s = Sidecar::start(&home, &base);
    std::thread::scope(|scope| {
        for part in 0..4 {
            let s = &s;
            scope.spawn(move || {
                for i in (part..TABLE).step_by(4) {
                    let r = activate(s, &format!("t{i}"));
                    assert_eq!(r.status, 200, "t{i}: {}", r.body);
                }
            });
        }
    });
    let full = activate(&s, "extra");
    assert_eq!(full.status, 409, "{}", full.body);
    assert_eq!(full.json()["error"], "TenantTableFull");
    assert_eq!(full.header("Retry-After"), None);
    assert_eq!(s.get("/v1/tenants/extra").status, 404);
    for id in ["t17", "t5"] {
        let r = s.post(&format!("/v1/tenants/{id}/revoke"), "");
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let again = activate(&s, "t5");
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.json()["error"], "InvalidStateTransition");
    let r = activate(&s, "extra");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        s.get("/v1/tenants/t17").status,
        404,
        "t17's slot was reused"
    );
    assert_eq!(s.tenant("t5")["entitlement"], "Terminated");
    assert!(s.stop().success());

    let more = "fsync = \"batch\"\nmax_tenants = 256\n[[tenants]]\nid = \"late\"\nsku = \"pro\"\n\
                [[tenants]]\nid = \"later\"\nsku = \"pro\"\n";
    let s = Sidecar::try_start(&home, &config(more)).expect("a full table never stops a start");
    assert_eq!(s.tenant("extra")["entitlement"], "Active");
    assert_eq!(s.tenant("late")["entitlement"], "Active");
    assert_eq!(
        s.get("/v1/tenants/t5").status,
        404,
        "t5's slot went to late"
    );
    assert_eq!(s.get("/v1/tenants/t17").status, 404);
    assert_eq!(s.get("/v1/tenants/later").status, 404);
    let log = s.stderr_log();
    assert!(
        log.lines().any(|l| l.contains("WARN")
            && l.contains("later")
            && l.contains("tenant table is full")),
        "{log}"
    );
    assert_eq!(s.tenant("t255")["entitlement"], "Active");
}

#[test]
fn a_full_id_arena_is_409_and_a_restart_too_small_for_the_ledger_is_refused_by_name() {
    // Proves: with tenant_id_bytes = 256, a 200-byte id and a 56-byte id fill the arena, so a
    // third tenant is refused (409 TenantTableFull, nothing added) although 6 of 8 slots are
    // free; /metrics shows the arena full; a restart with max_tenants = 1 refuses to start and
    // says which keys are too small.
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("s");
    let mut s = Sidecar::start(&home, &config("max_tenants = 8\ntenant_id_bytes = 256\n"));
    let long = "a".repeat(200);
    let rest = "b".repeat(56);
    for id in [&long, &rest] {
        let r = activate(&s, id);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let full = activate(&s, "c");
    assert_eq!(full.status, 409, "{}", full.body);
    assert_eq!(full.json()["error"], "TenantTableFull");
    assert_eq!(s.get("/v1/tenants/c").status, 404);
    let metrics = s.get("/metrics").body;
    for line in [
        "autonomic_table_used{table=\"tenant_id_bytes\"} 256",
        "autonomic_table_capacity{table=\"tenant_id_bytes\"} 256",
        "autonomic_table_used{table=\"tenants\"} 2",
        "autonomic_table_capacity{table=\"tenants\"} 8",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
    assert!(s.stop().success());
    let refused = Sidecar::try_start(&home, &config("max_tenants = 1\n"))
        .err()
        .expect("a table too small for the ledger's tenants refuses the start");
    assert!(
        refused.contains("does not fit") && refused.contains("max_tenants"),
        "{refused}"
    );
}

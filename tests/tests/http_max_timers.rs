//! `max_timers` through the real binary (`docs/config.md#top-level`,
//! `docs/governor.md#timing`): the governor's timer table is as large as the config says.
//! With `max_timers = 1` and `refuse_max_ms` on, one tenant enters Refuse, the next one's step
//! into Refuse is refused `Busy` and changes nothing until the first leaves; a restart whose
//! `max_timers` is too small for the ledger's pending warnings refuses to start, naming the key.

mod cli_support;

use cli_support::{Sidecar, config, now_ms};

const TENANTS: &str = "[[tenants]]\nid = \"acme\"\nsku = \"pro\"\n\
                       [[tenants]]\nid = \"beta\"\nsku = \"pro\"\n";

/// Warn, Warn, Degrade (Throttle 25) for each tenant, at `now`.
fn into_degrade(s: &Sidecar, now: u64) {
    for tenant in ["acme", "beta"] {
        for v in [80.0, 81.0, 82.0] {
            s.signal(tenant, v, now);
        }
        assert_eq!(s.tenant(tenant)["state"], "Degrade");
    }
}

#[test]
fn max_timers_bounds_the_tenants_in_refuse_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = config(&format!(
        "max_timers = 1\n[governor]\nrefuse_max_ms = 600000\n{TENANTS}"
    ));
    let mut s = Sidecar::start(dir.path(), &toml);
    let now = now_ms();
    into_degrade(&s, now);
    assert_eq!(s.signal("acme", 96.0, now)["to"], "Refuse");
    let refused = s.signal("beta", 96.0, now);
    assert_eq!(refused["error"], "Busy", "{refused}");
    assert_eq!(s.tenant("beta")["state"], "Degrade");
    let into_refuse = |s: &Sidecar| {
        let ledger = s.ledger();
        let beta = ledger
            .iter()
            .filter(|r| r["tenant"] == "beta" && r["event"]["to"] == "Refuse");
        beta.count()
    };
    assert_eq!(into_refuse(&s), 0, "nothing written");
    let metrics = s.get("/metrics").body;
    let timers = |gauge: &str| {
        let prefix = format!("{gauge}{{table=\"governor_timers\"}} ");
        metrics.lines().find_map(|l| l.strip_prefix(&prefix))
    };
    let used_of_capacity = (
        timers("autonomic_table_used"),
        timers("autonomic_table_capacity"),
    );
    assert_eq!(used_of_capacity, (Some("1"), Some("1")), "{metrics}");
    // acme leaving Refuse frees the entry: the same signal is governed now.
    assert_eq!(s.post("/v1/tenants/acme/reset", "").status, 200);
    assert_eq!(s.signal("beta", 96.0, now)["to"], "Refuse");
    assert_eq!(into_refuse(&s), 1);
    assert!(s.stop().success());
}

#[test]
fn a_restart_with_too_few_timers_for_the_pending_warnings_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("s");
    let grace = format!("[governor]\ngrace_ms = 600000\n{TENANTS}");
    let mut s = Sidecar::start(&home, &config(&format!("max_timers = 2\n{grace}")));
    let now = now_ms();
    into_degrade(&s, now);
    for tenant in ["acme", "beta"] {
        assert_eq!(s.signal(tenant, 96.0, now)["to"], "Refuse");
    }
    let warnings = s
        .ledger()
        .iter()
        .filter(|r| r["event"]["type"] == "warning")
        .count();
    assert_eq!(warnings, 2, "the two Sheds are warned");
    assert!(s.stop().success());
    let refused = Sidecar::try_start(&home, &config(&format!("max_timers = 1\n{grace}")))
        .err()
        .expect("a timer table too small for the ledger's warnings refuses the start");
    assert!(
        refused.contains("does not fit") && refused.contains("max_timers"),
        "{refused}"
    );
    let s = Sidecar::start(&home, &config(&format!("max_timers = 2\n{grace}")));
    assert_eq!(s.tenant("beta")["state"], "Refuse");
}

//! The tenant table through the public engine API: ids of every length in one arena, the
//! arena running out, the reuse of Terminated tenants' slots in place (against a model), and a
//! full table met by signals, commands and actions in flight.

use crate::common;

use std::collections::HashMap;

use autonomic_core::engine::{Engine, EngineConfig};
use autonomic_core::entitlement::EntitlementError;
use autonomic_core::storage::{Capacities, OwnedStorage};
use autonomic_core::{Action, EntitlementCommand, EntitlementState};
use common::drain_records;

const ACTIVATE: EntitlementCommand<'static> = EntitlementCommand::Activate {
    sku: "pro",
    expires_at_ms: None,
};

fn activate(e: &mut Engine<'_>, tenant: &str) -> Result<EntitlementState, EntitlementError> {
    e.handle_entitlement(0, tenant, ACTIVATE)
}

fn revoke(e: &mut Engine<'_>, tenant: &str) {
    e.handle_entitlement(0, tenant, EntitlementCommand::Revoke)
        .unwrap();
}

fn ids_in_slot_order(e: &Engine<'_>) -> Vec<String> {
    e.tenants(0).map(|v| v.tenant.to_string()).collect()
}

#[test]
fn ids_of_every_length_are_all_found() {
    // Proves ids of 1..=256 bytes, back to back in an arena sized to hold exactly them, are
    // each found by their own id (and not by a prefix or an extension: the ids are prefixes
    // of one another), and fill the arena to the byte.
    let total: usize = (1..=256).sum();
    let caps = Capacities {
        tenant_id_bytes: total,
        dedup_ids: 16,
        receipts: 16,
        ..Capacities::with_tenants(256)
    };
    let mut mem = OwnedStorage::new(&caps);
    let mut e = Engine::new(EngineConfig::default(), mem.storage()).unwrap();
    let id = |len: usize| "x".repeat(len);
    for len in 1..=256 {
        activate(&mut e, &id(len)).unwrap();
        drain_records(&mut e);
    }
    assert_eq!(e.tenant_count(), 256);
    assert_eq!(e.tenant_id_bytes(), (total, total));
    for len in 1..=256 {
        let view = e.tenant(0, &id(len)).unwrap();
        assert_eq!(view.tenant, id(len));
        assert_eq!(view.entitlement, EntitlementState::Active);
    }
    assert!(e.tenant(0, &id(257)).is_none());
    assert!(e.tenant(0, "y").is_none());
    assert_eq!(ids_in_slot_order(&e), (1..=256).map(id).collect::<Vec<_>>());
}

#[test]
fn a_full_id_arena_refuses_then_reuses_a_terminated_tenants_room() {
    // Proves that with free slots but no arena room a new tenant is TenantTableFull and nothing
    // changes; that once a tenant is Terminated, a new id no longer than its id takes its slot
    // and its room in place, while a longer one is still refused; and that a reused slot keeps
    // the room of the id it first held.
    let caps = Capacities {
        tenant_id_bytes: 20,
        dedup_ids: 16,
        receipts: 16,
        ..Capacities::with_tenants(8)
    };
    let mut mem = OwnedStorage::new(&caps);
    let mut e = Engine::new(EngineConfig::default(), mem.storage()).unwrap();
    for t in ["aaaaaaaaaa", "bbbbb", "ccccc"] {
        activate(&mut e, t).unwrap();
    }
    drain_records(&mut e);
    assert_eq!(e.tenant_id_bytes(), (20, 20));
    let unchanged = |e: &Engine<'_>, seq: u64| {
        assert_eq!(e.tenant_count(), 3);
        assert_eq!(e.ledger().next_seq(), seq, "nothing appended");
        assert_eq!(e.tenant_id_bytes(), (20, 20));
    };
    assert_eq!(
        activate(&mut e, "d"),
        Err(EntitlementError::TenantTableFull)
    );
    unchanged(&e, 3);
    revoke(&mut e, "bbbbb");
    assert_eq!(
        activate(&mut e, "dddddd"),
        Err(EntitlementError::TenantTableFull),
        "6 bytes do not fit the 5 of bbbbb, and the arena has no free byte"
    );
    unchanged(&e, 4);
    assert_eq!(
        e.tenant(0, "bbbbb").unwrap().entitlement,
        EntitlementState::Terminated
    );
    activate(&mut e, "ddd").unwrap();
    unchanged(&e, 5);
    assert!(e.tenant(0, "bbbbb").is_none(), "replaced");
    assert_eq!(ids_in_slot_order(&e), ["aaaaaaaaaa", "ddd", "ccccc"]);
    revoke(&mut e, "ddd");
    activate(&mut e, "eeeee").unwrap();
    unchanged(&e, 7);
    assert_eq!(ids_in_slot_order(&e), ["aaaaaaaaaa", "eeeee", "ccccc"]);
}

/// A tiny deterministic generator (splitmix64), so a failing seed replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}

/// One slot of the model: the id, the arena room it owns, and its termination rank if any.
struct ModelSlot {
    id: String,
    room: usize,
    terminated: Option<u64>,
}

/// The table's rules, written plainly: a free slot while slots and arena room last; else the
/// Terminated tenant revoked longest ago is replaced in place, its id going in the slot's room
/// if it fits, else at the end of the arena if that has room.
struct Model {
    caps: Capacities,
    slots: Vec<ModelSlot>,
    arena_used: usize,
    terminations: u64,
    /// How often each rule decided: new slot, reuse in the victim's room, reuse with new
    /// room, refusal (the test asserts the churn reached every one).
    decided: [usize; 4],
}

impl Model {
    fn slot(&self, id: &str) -> Option<usize> {
        self.slots.iter().position(|s| s.id == id)
    }

    /// The slot a new `id` goes to, changing the model; `None`: TenantTableFull.
    fn insert(&mut self, id: &str) -> Option<usize> {
        let len = id.len();
        let arena_room = self.arena_used + len <= self.caps.tenant_id_bytes;
        if self.slots.len() < self.caps.tenants && arena_room {
            self.decided[0] += 1;
            self.arena_used += len;
            self.slots.push(ModelSlot {
                id: id.to_string(),
                room: len,
                terminated: None,
            });
            return Some(self.slots.len() - 1);
        }
        let victim = (0..self.slots.len())
            .filter(|&i| self.slots[i].terminated.is_some())
            .min_by_key(|&i| self.slots[i].terminated);
        let Some(victim) = victim else {
            self.decided[3] += 1;
            return None;
        };
        let room = if len <= self.slots[victim].room {
            self.decided[1] += 1;
            self.slots[victim].room
        } else if arena_room {
            self.decided[2] += 1;
            self.arena_used += len;
            len
        } else {
            self.decided[3] += 1;
            return None;
        };
        self.slots[victim] = ModelSlot {
            id: id.to_string(),
            room,
            terminated: None,
        };
        Some(victim)
    }
}

/// Thousands of random activations and revocations over a pool of ids of 1..=12 bytes, in a
/// table of 4 slots and a 64-byte arena, each checked against [`Model`]; returns the engine's
/// records.
fn churn(seed: u64, e: &mut Engine<'_>, caps: &Capacities) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed);
    let pool: Vec<String> = (0..10)
        .map(|_| {
            let len = 1 + rng.below(12) as usize;
            (0..len)
                .map(|_| char::from(b'!' + rng.below(94) as u8))
                .collect()
        })
        .collect();
    let mut model = Model {
        caps: *caps,
        slots: Vec::new(),
        arena_used: 0,
        terminations: 0,
        decided: [0; 4],
    };
    let mut records = Vec::new();
    for step in 0..3_000 {
        let id = &pool[rng.below(pool.len() as u64) as usize];
        let seq = e.ledger().next_seq();
        match model.slot(id).map(|i| model.slots[i].terminated) {
            Some(None) => {
                revoke(e, id);
                let i = model.slot(id).unwrap();
                model.slots[i].terminated = Some(model.terminations);
                model.terminations += 1;
            }
            Some(Some(_)) => {
                let got = activate(e, id);
                assert!(
                    matches!(got, Err(EntitlementError::InvalidStateTransition { .. })),
                    "seed {seed} step {step}: {id} is Terminated: {got:?}"
                );
                assert_eq!(e.ledger().next_seq(), seq);
            }
            None => match model.insert(id) {
                Some(_) => assert_eq!(activate(e, id), Ok(EntitlementState::Active)),
                None => {
                    let got = activate(e, id);
                    assert_eq!(
                        got,
                        Err(EntitlementError::TenantTableFull),
                        "seed {seed} step {step}: {id}"
                    );
                    assert_eq!(e.ledger().next_seq(), seq, "nothing appended");
                }
            },
        }
        records.extend(drain_records(e));
        let live: HashMap<&str, EntitlementState> = model
            .slots
            .iter()
            .map(|s| {
                let state = match s.terminated {
                    Some(_) => EntitlementState::Terminated,
                    None => EntitlementState::Active,
                };
                (s.id.as_str(), state)
            })
            .collect();
        for id in &pool {
            let found = e.tenant(0, id).map(|v| v.entitlement);
            assert_eq!(
                found,
                live.get(id.as_str()).copied(),
                "seed {seed} step {step}: {id}"
            );
        }
        let order: Vec<&str> = model.slots.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids_in_slot_order(e), order, "seed {seed} step {step}");
        assert_eq!(e.tenant_id_bytes().0, model.arena_used);
    }
    assert!(model.decided.iter().all(|&n| n > 0), "{:?}", model.decided);
    records
}

const CHURN: Capacities = Capacities {
    tenant_id_bytes: 64,
    dedup_ids: 16,
    receipts: 16,
    ..Capacities::with_tenants(4)
};

#[test]
fn churn_matches_the_model_and_restores_equal() {
    // Proves, over random churn, that every live tenant is found by its id, no replaced one
    // is, the slot order and arena use are the model's (refusals append nothing), and that an
    // engine rebuilt from the churned ledger equals the live one, slot for slot.
    for seed in 0..8 {
        let mut mem = OwnedStorage::new(&CHURN);
        let mut live = Engine::new(EngineConfig::default(), mem.storage()).unwrap();
        let records = churn(seed, &mut live, &CHURN);
        let mut rebuilt_mem = OwnedStorage::new(&CHURN);
        let mut rebuilt = Engine::new(EngineConfig::default(), rebuilt_mem.storage()).unwrap();
        for record in &records {
            rebuilt.restore(record).unwrap();
        }
        let views = |e: &Engine<'_>| e.tenants(0).map(|v| format!("{v:?}")).collect::<Vec<_>>();
        assert_eq!(views(&live), views(&rebuilt), "seed {seed}");
        assert_eq!(live.tenant_id_bytes(), rebuilt.tenant_id_bytes());
        assert_eq!(live.tenant_count(), rebuilt.tenant_count());
        assert_eq!(live.ledger().head_hash(), rebuilt.ledger().head_hash());
    }
}

// ----- a full table, through signals and actions ---------------------------------------------

#[test]
fn tenant_table_full_is_a_typed_error() {
    // Proves activation beyond capacity is TenantTableFull and adds nothing.
    let two = Capacities { tenants: 2, ..FOUR };
    let mut mem = OwnedStorage::new(&two);
    let mut e = Engine::new(EngineConfig::default(), mem.storage()).unwrap();
    for t in ["a", "b"] {
        e.handle_entitlement(
            0,
            t,
            EntitlementCommand::Activate {
                sku: "pro",
                expires_at_ms: None,
            },
        )
        .unwrap();
    }
    let err = e.handle_entitlement(
        0,
        "c",
        EntitlementCommand::Activate {
            sku: "pro",
            expires_at_ms: None,
        },
    );
    assert_eq!(
        err,
        Err(autonomic_core::entitlement::EntitlementError::TenantTableFull)
    );
    assert_eq!(e.tenant_count(), 2);
    assert_eq!(e.ledger().next_seq(), 2);
}

/// Four tenants, 64 receipts.
const FOUR: Capacities = Capacities {
    tenant_id_bytes: 4 * 256,
    dedup_ids: 64,
    receipts: 64,
    ..Capacities::with_tenants(4)
};

fn cmd(e: &mut Engine<'_>, now: u64, t: &str, c: EntitlementCommand<'_>) {
    e.handle_entitlement(now, t, c).unwrap();
}

const ACTIVATE_PRO: EntitlementCommand<'static> = EntitlementCommand::Activate {
    sku: "pro",
    expires_at_ms: None,
};

/// Rebuilds a four-tenant engine from `records` and compares it with `live` (views in slot
/// order, in-flight actions, rollbackable receipts, head).
fn assert_four_restores_equal(live: &Engine<'_>, records: &[Vec<u8>], now: u64) {
    let mut mem = OwnedStorage::new(&FOUR);
    let mut rebuilt = Engine::new(EngineConfig::default(), mem.storage()).unwrap();
    for r in records {
        rebuilt.restore(r).unwrap();
    }
    let (a, b) = (
        common::restored_views(live, now),
        common::restored_views(&rebuilt, now),
    );
    assert_eq!(a, b, "live == restored, slot for slot");
    assert_eq!(
        live.rollbackable().collect::<Vec<_>>(),
        rebuilt.rollbackable().collect::<Vec<_>>()
    );
    assert_eq!(live.in_flight(), rebuilt.in_flight());
    assert_eq!(live.ledger().head_hash(), rebuilt.ledger().head_hash());
}

#[test]
fn a_full_table_reuses_the_slot_of_the_tenant_terminated_longest_ago() {
    // Proves that with the table full, a new tenant takes the slot of the Terminated tenant
    // revoked first (by receipt order, not slot order), that a Terminated tenant keeps its
    // lifecycle rule (activate -> InvalidStateTransition) until then, that the slot is reused in
    // place (the other tenants keep theirs, and their actions in flight), and that a rebuilt
    // engine equals the live one.
    let mut mem = OwnedStorage::new(&FOUR);
    let mut e = Engine::new(EngineConfig::default(), mem.storage()).unwrap();
    for t in ["a", "b", "c", "d"] {
        cmd(&mut e, 0, t, ACTIVATE_PRO);
    }
    let d_action = e.handle_action(1, "d", Action::Pause).unwrap();
    cmd(&mut e, 2, "b", EntitlementCommand::Revoke);
    cmd(&mut e, 3, "a", EntitlementCommand::Revoke);
    assert!(matches!(
        e.handle_entitlement(4, "b", ACTIVATE_PRO),
        Err(autonomic_core::entitlement::EntitlementError::InvalidStateTransition { .. })
    ));
    cmd(&mut e, 5, "x", ACTIVATE_PRO);
    assert!(
        e.tenant(5, "b").is_none(),
        "b was terminated first: its slot went"
    );
    assert_eq!(
        e.tenant(5, "a").unwrap().entitlement,
        autonomic_core::EntitlementState::Terminated
    );
    // x took b's slot in place; d kept its own: its in-flight pause still resolves.
    assert_eq!(
        e.tenant(5, "d").unwrap().in_flight.unwrap().receipt,
        d_action
    );
    e.handle_outcome(6, "d", Some(d_action), true, &[]).unwrap();
    assert_eq!(e.rollbackable().collect::<Vec<_>>(), vec![d_action]);
    cmd(&mut e, 7, "y", ACTIVATE_PRO);
    assert!(e.tenant(7, "a").is_none());
    let names: Vec<_> = e.tenants(7).map(|v| v.tenant.to_string()).collect();
    assert_eq!(names.len(), 4);
    for t in ["c", "d", "x", "y"] {
        assert!(names.contains(&t.to_string()), "{names:?}");
    }
    assert_eq!(
        names,
        ["y", "x", "c", "d"],
        "victims' slots reused in place"
    );
    // The rollback bookkeeping still names d's slot.
    e.handle_rollback(8, d_action).unwrap();
    let records = drain_records(&mut e);
    assert_four_restores_equal(&e, &records, 9);
    // A returning id is a new tenant (its Terminated past was forgotten with its slot).
    assert_eq!(
        e.handle_entitlement(10, "b", ACTIVATE_PRO),
        Err(autonomic_core::entitlement::EntitlementError::TenantTableFull)
    );
}

#[test]
fn a_terminated_tenant_with_pending_work_keeps_its_slot() {
    // Proves a Terminated tenant with an action in flight, or with a completed action still
    // remembered for rollback, is not reused: the table answers TenantTableFull, changes
    // nothing, and frees the slot once the bookkeeping is gone.
    let mut mem = OwnedStorage::new(&FOUR);
    let mut e = Engine::new(EngineConfig::default(), mem.storage()).unwrap();
    for t in ["a", "b", "c", "d"] {
        cmd(&mut e, 0, t, ACTIVATE_PRO);
    }
    let r = e.handle_action(1, "a", Action::Pause).unwrap();
    cmd(&mut e, 2, "a", EntitlementCommand::Revoke);
    let seq = e.ledger().next_seq();
    assert_eq!(
        e.handle_entitlement(3, "x", ACTIVATE_PRO),
        Err(autonomic_core::entitlement::EntitlementError::TenantTableFull)
    );
    assert_eq!(e.ledger().next_seq(), seq, "nothing appended");
    e.handle_outcome(4, "a", Some(r), true, &[]).unwrap();
    assert_eq!(
        e.handle_entitlement(5, "x", ACTIVATE_PRO),
        Err(autonomic_core::entitlement::EntitlementError::TenantTableFull),
        "its completed action is still rollbackable"
    );
    e.handle_rollback(6, r).unwrap();
    e.handle_rollback_outcome(7, r, true).unwrap();
    cmd(&mut e, 8, "x", ACTIVATE_PRO);
    assert!(e.tenant(8, "a").is_none());
    let records = drain_records(&mut e);
    assert_four_restores_equal(&e, &records, 9);
}

//! The governor trace shared with the Erlang gen_statem of `bench/erlang/governor.erl`: the
//! same pseudo-random events and the same checksum over the resulting (state, c, action)
//! sequence, so equal checksums show that both run the same table. The criterion bench
//! `governor` includes this file for its trace.

use autonomic_core::governor::{Governor, Order, step};
use autonomic_core::{GovernorEvent, GovernorState, Thresholds};

/// The LCG's seed.
const SEED: u32 = 42;

/// The next value of the LCG modulo 2^32 (Numerical Recipes' constants).
fn next(x: u32) -> u32 {
    x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223)
}

/// `n` events with their `now_ms` (the event's index): for each next LCG value `x`,
/// `m = (x >> 16) % 108` is a signal of value `m` when `m <= 100`, then 101..=102 an
/// ActionSucceeded, 103..=104 an ActionFailed, 105..=107 a Reset.
pub fn trace(n: u64) -> Vec<(GovernorEvent, u64)> {
    let mut x = SEED;
    (0..n)
        .map(|now_ms| {
            x = next(x);
            let event = match (x >> 16) % 108 {
                m @ 0..=100 => GovernorEvent::Signal(m as u8),
                101..=102 => GovernorEvent::ActionSucceeded,
                103..=104 => GovernorEvent::ActionFailed,
                _ => GovernorEvent::Reset,
            };
            (event, now_ms)
        })
        .collect()
}

/// Folds one step into the checksum: `h * 1000003 + (state * 256 + c) * 512 + a` modulo 2^32,
/// with `a` 0 for no action, 1 + p for Throttle(p), 200 for Pause, 300 + p for Shed(p).
fn fold(h: u32, to: GovernorState, c: u8, action: Option<Order>) -> u32 {
    let a = match action {
        None => 0,
        Some(Order::Throttle(p)) => 1 + u32::from(p),
        Some(Order::Pause) => 200,
        Some(Order::Shed(p)) => 300 + u32::from(p),
    };
    let code = (to.index() as u32 * 256 + u32::from(c)) * 512 + a;
    h.wrapping_mul(1_000_003).wrapping_add(code)
}

/// Runs a governor from Stable through the trace and returns the checksum of its steps.
pub fn run(th: &Thresholds, trace: &[(GovernorEvent, u64)]) -> u32 {
    let mut governor = Governor::new(0);
    let mut h = 0;
    for &(event, now_ms) in trace {
        let s = step(th, governor.state, governor.consecutive_high, event);
        governor.apply(now_ms, s.to, s.consecutive_high);
        h = fold(h, s.to, s.consecutive_high, s.action);
    }
    h
}

#[test]
fn checksum_of_the_first_10000_events_matches_erlang() {
    // The expected value is the Erlang side's, printed by:
    //   erlc -o /tmp bench/erlang/governor.erl && erl -noshell -pa /tmp -eval \
    //     'io:format("~b~n", [governor:checksum(governor:trace(10000))])' -s init stop
    let trace = trace(10_000);
    assert_eq!(run(&Thresholds::DEFAULT, &trace), 1_697_661_854);
}

#[test]
fn the_trace_orders_every_action_of_the_table() {
    // So the checksum covers every row that dispatches: Throttle(50), Throttle(25), Pause, Shed(50).
    let th = Thresholds::DEFAULT;
    let mut governor = Governor::new(0);
    let mut seen = Vec::new();
    for (event, now_ms) in trace(10_000) {
        let s = step(&th, governor.state, governor.consecutive_high, event);
        governor.apply(now_ms, s.to, s.consecutive_high);
        if let Some(order) = s.action.filter(|o| !seen.contains(o)) {
            seen.push(order);
        }
    }
    for order in [
        Order::Throttle(50),
        Order::Throttle(25),
        Order::Pause,
        Order::Shed(50),
    ] {
        assert!(seen.contains(&order), "{order:?} never ordered");
    }
}

//! `autonomic demo`: the built-in scenario through the real pipeline.
//!
//! A temporary data dir, the engine thread with its ledger file, the default (`dry-run`)
//! actuators: activate `acme` on `pro`; signals 45, 78, 78, 92 (Throttle(50) dispatched and
//! executed by the dry-run actuator, whose success moves the governor to Warn); 55 (Stable).
//! Each step is printed; then the ledger file is read back and verified with the core's
//! `ChainVerifier`. Exit 0 when every step did what the governor's table says
//! (`docs/governor.md#the-table`), 1 otherwise.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::commands::summary;
use crate::config::Config;
use crate::daemon::{
    self, Actuators, DaemonConfig, EngineHandle, EntitlementCmd, Msg, Mutation, Notice, Request,
};
use crate::input::Entitlement;
use crate::ledger_file::{FILE_NAME, ResumePoint, verify_file};
use crate::wire::SignalIn;

/// How long the demo waits for the dry-run actuator's outcome.
const OUTCOME_WAIT_MS: u64 = 10_000;
/// The tenant of the scenario.
const TENANT: &str = "acme";

/// Runs the demo; see the module doc.
pub fn run() -> ExitCode {
    match run_inner() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: demo: {message}");
            crate::exit::code(crate::exit::CORRUPT)
        }
    }
}

fn run_inner() -> Result<(), String> {
    let dir = tempfile::Builder::new()
        .prefix("autonomic-demo-")
        .tempdir()
        .map_err(|e| format!("temporary data dir: {e}"))?;
    println!("autonomic demo: data dir {}", dir.path().display());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.sampler.enabled = false;
    runtime.block_on(scenario(&config))?;
    let path = dir.path().join(FILE_NAME);
    let report =
        verify_file(&path, ResumePoint::start(), None, |_, _| {}).map_err(|e| e.to_string())?;
    println!("ledger {}: {}", path.display(), summary(&report));
    Ok(())
}

async fn scenario(config: &Config) -> Result<(), String> {
    let daemon_config = DaemonConfig::from_config(config).map_err(|e| e.to_string())?;
    let actuators = Actuators::from_config(&config.actuators, None).map_err(|e| e.to_string())?;
    let shared = Arc::new(daemon::Shared::default());
    let (engine, thread, started) = daemon::spawn(
        daemon_config,
        actuators,
        Arc::clone(&shared),
        tokio::runtime::Handle::current(),
    )
    .map_err(|e| format!("engine thread: {e}"))?;
    started
        .await
        .map_err(|_| "engine thread stopped".to_owned())?
        .map_err(|e| e.to_string())?;
    let mut notices = shared.notices.subscribe();
    let result = steps(&engine, &mut notices).await;
    engine.shutdown().await;
    let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    result
}

async fn steps(
    engine: &EngineHandle,
    notices: &mut tokio::sync::broadcast::Receiver<Notice>,
) -> Result<(), String> {
    let activated = engine
        .call(|reply| {
            let input = Entitlement {
                tenant: TENANT.to_owned(),
                command: EntitlementCmd::Activate {
                    sku: "pro".to_owned(),
                    expires_at_ms: None,
                },
            };
            Msg::Mutation(Mutation::Entitlement(Request { input, reply }))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    println!("step 1: activate {TENANT} on pro -> entitlement {activated:?}");
    // Readings 5 s apart, so that the two 78s fall in different dedup windows.
    let base_ms = daemon::now_ms();
    let script: [(f64, &str, u8, Option<&str>); 4] = [
        (45.0, "Stable", 0, None),
        (78.0, "Warn", 1, None),
        (78.0, "Warn", 2, None),
        (92.0, "Intervene", 0, Some("throttle")),
    ];
    let mut step = 2;
    for (i, (value, to, c, action)) in script.into_iter().enumerate() {
        let ts_ms = base_ms + 5_000 * i as u64;
        let result = signal(engine, value, ts_ms).await?;
        print_signal(step, value, &result);
        expect(&result, to, c, action)?;
        step += 1;
    }
    let finished = tokio::time::timeout(Duration::from_millis(OUTCOME_WAIT_MS), async {
        loop {
            match notices.recv().await {
                Ok(notice @ Notice::ActionFinished { .. }) => return Some(notice),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return None,
            }
        }
    })
    .await
    .ok()
    .flatten();
    let Some(Notice::ActionFinished {
        receipt,
        kind,
        backend,
        report,
        transition: Some(t),
        ..
    }) = finished
    else {
        return Err("the actuator's outcome did not arrive".to_owned());
    };
    println!(
        "step {step}: {backend} actuator ran {kind} 50% (receipt {receipt}): {} ({}) -> {} -> {}, c={}",
        if report.ok { "succeeded" } else { "failed" },
        report.detail,
        t.from.as_str(),
        t.to.as_str(),
        t.consecutive_high
    );
    if t.to.as_str() != "Warn" || !report.ok {
        return Err("the action's success did not move the governor to Warn".to_owned());
    }
    step += 1;
    let result = signal(engine, 55.0, base_ms + 20_000).await?;
    print_signal(step, 55.0, &result);
    expect(&result, "Stable", 0, None)
}

async fn signal(engine: &EngineHandle, value: f64, ts_ms: u64) -> Result<Value, String> {
    let signals = vec![SignalIn {
        tenant: TENANT.to_owned(),
        metric: "cpu".to_owned(),
        value,
        ts_ms,
    }];
    let mut results = engine
        .call(|reply| Msg::Mutation(Mutation::Signals { signals, reply }))
        .await
        .map_err(|e| e.to_string())?;
    let result = results.pop().ok_or_else(|| "no result".to_owned())?;
    serde_json::to_value(result).map_err(|e| e.to_string())
}

fn print_signal(step: u32, value: f64, result: &Value) {
    let field = |pointer: &str| result.pointer(pointer).cloned().unwrap_or(Value::Null);
    let action = match field("/action") {
        Value::Null => "no action".to_owned(),
        a => format!(
            "dispatched {} {}%",
            a.get("kind").and_then(Value::as_str).unwrap_or("?"),
            a.get("percent").cloned().unwrap_or(Value::Null)
        ),
    };
    println!(
        "step {step}: signal {TENANT} cpu {value} -> {} -> {}, c={}, {action}",
        field("/from").as_str().unwrap_or("?"),
        field("/to").as_str().unwrap_or("?"),
        field("/consecutive_high")
    );
}

fn expect(result: &Value, to: &str, c: u8, action: Option<&str>) -> Result<(), String> {
    let got_to = result.pointer("/to").and_then(Value::as_str);
    let got_c = result.pointer("/consecutive_high").and_then(Value::as_u64);
    let got_action = result.pointer("/action/kind").and_then(Value::as_str);
    if got_to != Some(to) || got_c != Some(u64::from(c)) || got_action != action {
        return Err(format!(
            "expected {to} c={c} action {action:?}, got {result}"
        ));
    }
    Ok(())
}

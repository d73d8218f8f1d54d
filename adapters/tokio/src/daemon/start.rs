//! Start-up, top-down: open the ledger against its checkpoints and restore the engine from
//! it, record the rollbacks a crash cut short as failed, then activate the tenants the config
//! names and the ledger does not know.

use super::*;

/// What start-up found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartReport {
    /// Receipts restored from the file.
    pub restored: u64,
    /// Bytes of torn tail truncated (0 if none).
    pub truncated_bytes: u64,
    /// Tenants activated from the config at this start.
    pub activated: Vec<String>,
    /// Seq of the newest receipt after start, if any.
    pub head_seq: Option<u64>,
    /// The last `ConfigApplied` receipt after start, if any.
    pub config_applied: Option<autonomic_core::engine::AppliedConfig>,
}

/// Why the engine thread could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The ledger is corrupt before its tail: refuse to start (exit 1).
    #[error("{0}")]
    Corrupt(String),
    /// Anything else (exit 2).
    #[error("{0}")]
    Other(String),
}

/// The ledger file, opened and checked, with the engine restored from it.
struct Opened {
    ledger: LedgerFile,
    /// Signs checkpoints of the durable head, from the newest found on.
    checkpointer: Checkpointer,
    report: StartReport,
}

/// Start-up, in order: open the ledger and restore the engine from it, connect the
/// witness, build the thread's state, fail the interrupted rollbacks, activate the
/// configured tenants; then ready.
pub(super) fn start<'e, 's>(
    engine: &'e mut Engine<'s>,
    boot: Boot,
) -> Result<(Host<'e, 's>, StartReport), StartError> {
    let Boot {
        config,
        actuators,
        shared,
        runtime,
        tx,
    } = boot;
    let Opened {
        ledger,
        checkpointer,
        mut report,
    } = open_ledger(engine, &config, &shared)?;
    let witness = witness(&config.checkpoint)?;
    let mut host = Host {
        engine,
        ledger,
        checkpointer,
        witness,
        actuators,
        running: HashMap::new(),
        replies: Vec::new(),
        commands: Vec::new(),
        tx,
        runtime,
        shared,
        poisoned: false,
        shutdown: None,
        circuit_log: circuits::CircuitLog::default(),
    };
    host.fail_interrupted_rollbacks()?;
    host.record_config_at_start(config.config_hash)?;
    report.config_applied = host.engine.applied_config();
    report.activated = host.activate_configured(&config.tenants)?;
    report.head_seq = host.engine.ledger().next_seq().checked_sub(1);
    host.shared.ready.store(true, Ordering::SeqCst);
    Ok((host, report))
}

/// Opens the ledger file, restoring every record into the engine, and checks it against the
/// checkpoints (the data dir's and the witness's) before anything is written: the ledger
/// must contain their heads, and they must carry this sidecar's key.
fn open_ledger(
    engine: &mut Engine<'_>,
    config: &DaemonConfig,
    shared: &Shared,
) -> Result<Opened, StartError> {
    let corrupt = |what: &dyn std::fmt::Display| {
        StartError::Corrupt(format!(
            "{what}; refusing to start (run `autonomic verify --data-dir {}`)",
            config.data_dir.display()
        ))
    };
    let key = checkpoint::load_or_create_key(&config.checkpoint.key_path)
        .map_err(|e| StartError::Other(format!("checkpoint key: {e}")))?;
    let public_key = key.verifying_key().to_bytes();
    let local = config.data_dir.join(checkpoint::FILE_NAME);
    let paths: Vec<PathBuf> = std::iter::once(local.clone())
        .chain(config.checkpoint.witness.clone())
        .collect();
    let found = Audit::read_existing(paths.clone()).map_err(|e| corrupt(&e))?;
    // Filled by the restore callback, read by the check that runs after the scan.
    let audit = RefCell::new(Audit::new(found, Some(public_key)));
    if let Some(refusal) = audit.borrow().missing_ledger()
        && !config.data_dir.join(crate::ledger_file::FILE_NAME).exists()
    {
        return Err(corrupt(&refusal));
    }
    let restore = |index: u64, body: &[u8]| {
        audit.borrow_mut().observe(index, body);
        engine
            .restore(body)
            .map_err(|e: RestoreError| e.to_string())
    };
    let check = |scanned: &ScanReport| {
        let ledger_id = scanned.ledger_id.unwrap_or_default();
        audit.borrow().check(ledger_id, scanned.records)
    };
    let opened = LedgerFile::open_checked(&config.data_dir, config.fsync, restore, check);
    let (ledger, opened) = opened.map_err(|e| match e {
        OpenError::Corrupt { .. } | OpenError::Refused { .. } => corrupt(&e),
        other => StartError::Other(other.to_string()),
    })?;
    publish_public_key(&config.data_dir, &public_key)?;
    if let Ok(mut view) = shared.ledger_view.write() {
        *view = Some(opened.view.clone());
    }
    if let Some(tail) = opened.torn_tail {
        warn!(
            offset_bytes = tail.offset_bytes,
            len_bytes = tail.len_bytes,
            uncommitted_records = tail.uncommitted_records,
            reason = %tail.reason,
            "ledger: torn tail truncated (never acknowledged)"
        );
        shared.metrics.torn_tail_recovered();
    }
    let head_seq = engine.ledger().next_seq().checked_sub(1);
    shared.metrics.set_head_seq(head_seq);
    super::circuits::publish_circuits(engine, shared);
    for kind in ActionKind::ALL {
        let circuit = engine.circuit(kind);
        if circuit != CircuitState::Closed {
            warn!(
                kind = kind.as_str(),
                circuit = circuit.as_str(),
                "actuator: circuit restored from the ledger"
            );
        }
    }
    let audit = audit.into_inner();
    info!(
        records = opened.records,
        ledger = %hex::encode(opened.ledger_id),
        checkpoints = audit.checkpoints().len(),
        in_flight = engine.in_flight().len(),
        "ledger: restored"
    );
    let interval = Duration::from_millis(config.checkpoint.interval_ms);
    let checkpointer =
        Checkpointer::new(key, opened.ledger_id, paths, interval, audit.newest_seq());
    let report = StartReport {
        restored: opened.records,
        truncated_bytes: opened.truncated_bytes,
        activated: Vec::new(),
        head_seq,
        config_applied: None,
    };
    Ok(Opened {
        ledger,
        checkpointer,
        report,
    })
}

/// Writes `<data_dir>/identity.pub` when it does not hold `public_key` yet (so `verify` can
/// pin the key).
fn publish_public_key(data_dir: &std::path::Path, public_key: &[u8; 32]) -> Result<(), StartError> {
    let path = data_dir.join(checkpoint::PUBLIC_KEY_FILE_NAME);
    let text = format!("{}\n", hex::encode(public_key));
    if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
        return Ok(());
    }
    checkpoint::write_atomically(&path, &text, 0o644)
        .map_err(|e| StartError::Other(format!("checkpoint key: {e}")))
}

/// The external witness each checkpoint is POSTed to, if configured.
fn witness(checkpoint: &CheckpointSetup) -> Result<Option<Poster>, StartError> {
    let Some(url) = checkpoint.webhook.as_deref() else {
        return Ok(None);
    };
    Poster::new(url, Duration::from_millis(WITNESS_TIMEOUT_MS))
        .map(Some)
        .map_err(|e| StartError::Other(format!("checkpoint.webhook: {e}")))
}

impl Host<'_, '_> {
    /// Activates configured tenants unknown to the ledger, each followed by its `mode` when
    /// that is `shadow` (one `mode_set` receipt); returns their ids.
    fn activate_configured(
        &mut self,
        tenants: &[TenantSection],
    ) -> Result<Vec<String>, StartError> {
        let now = now_ms();
        let mut activated = Vec::new();
        for t in tenants {
            if self.engine.tenant(now, &t.id).is_some() {
                continue;
            }
            let input = input::Entitlement {
                tenant: t.id.clone(),
                command: EntitlementCmd::Activate {
                    sku: t.sku.clone(),
                    expires_at_ms: t.expires_at_ms,
                },
            };
            match self.apply(now, &input) {
                Ok(_) => {
                    self.warn_unactionable(&t.id);
                    self.set_configured_mode(now, t)?;
                    activated.push(t.id.clone());
                }
                // The ledger's tenants filled the table: start anyway, without this one.
                Err(e @ EntitlementError::TenantTableFull) => {
                    warn!(tenant = %t.id, error = %e, capacity = self.engine.tenant_capacity(),
                          "config: tenant not activated: the tenant table is full; skipped");
                }
                Err(e) => {
                    return Err(StartError::Other(format!("config: tenant {:?}: {e}", t.id)));
                }
            }
        }
        if !self.flush() {
            return Err(StartError::Other(
                "ledger: writing the configured tenants failed".to_owned(),
            ));
        }
        // Activations dispatch nothing.
        self.commands.clear();
        Ok(activated)
    }

    /// A newly activated tenant's configured mode, when it is not the default.
    fn set_configured_mode(&mut self, now: u64, t: &TenantSection) -> Result<(), StartError> {
        let mode = t.mode();
        if mode == autonomic_core::engine::Mode::Enforce {
            return Ok(());
        }
        let input = input::SetMode {
            tenant: t.id.clone(),
            mode,
        };
        self.apply(now, &input)
            .map(|_| ())
            .map_err(|e| StartError::Other(format!("config: tenant {:?} mode: {e}", t.id)))
    }

    /// A rollback requested before the last stop and never ended was cut short by a crash:
    /// its backend may or may not have finished, and nothing will report it now. Each is
    /// recorded as failed (`rollback_completed`, `succeeded: false`), which leaves the
    /// action rollbackable: the operator can request the rollback again.
    fn fail_interrupted_rollbacks(&mut self) -> Result<(), StartError> {
        let interrupted: Vec<u64> = self.engine.pending_rollbacks().collect();
        if interrupted.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        for receipt in interrupted {
            let outcome = input::RollbackOutcome {
                receipt,
                succeeded: false,
            };
            self.apply(now, &outcome)
                .map_err(|e| StartError::Other(format!("rollback of {receipt}: {e}")))?;
            warn!(
                receipt,
                "rollback cut short by the last stop; recorded as failed, request it again"
            );
        }
        if !self.flush() {
            return Err(StartError::Other(
                "ledger: recording the interrupted rollbacks failed".to_owned(),
            ));
        }
        Ok(())
    }

    /// Any visible-ASCII id is a valid tenant, so an id like `-rf` or `a/b` is activated; but a
    /// backend whose substitution rules refuse it will fail every run of that kind. Said
    /// once, at activation, at WARN (the runs themselves fail with the same reason).
    pub(super) fn warn_unactionable(&self, tenant: &str) {
        for actuator in self.actuators.iter() {
            if let Err(e) = actuator.check_tenant(tenant) {
                warn!(%tenant, kind = actuator.kind().as_str(), reason = %e,
                      "tenant activated, but its {} actions will be refused", actuator.kind().as_str());
            }
        }
    }
}

//! Actions: actuator runs, their outcomes, rollbacks, cancels and timeouts.

use super::*;

impl Host<'_> {
    pub(super) fn outcome(
        &mut self,
        now: u64,
        tenant: String,
        receipt: u64,
        kind: &'static str,
        backend: &'static str,
        report: ActionReport,
    ) {
        self.running.remove(&receipt);
        if report.cancelled || self.poisoned {
            debug!(receipt, "actuator: cancelled run ended");
            return;
        }
        // The backend's undo token (the prior values a rollback restores) goes into the
        // outcome receipt: a rollback after a restart reads it back from the ledger.
        let result =
            self.retry(|e| e.handle_outcome(now, &tenant, Some(receipt), report.ok, &report.undo));
        let transition = match result {
            Ok(t) if report.ok => {
                info!(%tenant, receipt, kind, backend, ok = report.ok, detail = %report.detail,
                      from = t.from.as_str(), to = t.to.as_str(), "actuator: action finished");
                Some(t)
            }
            Ok(t) => {
                // A failed or timed-out run is an operator's concern: WARN, with the reason.
                warn!(%tenant, receipt, kind, backend, ok = report.ok,
                      timed_out = report.timed_out, detail = %report.detail,
                      from = t.from.as_str(), to = t.to.as_str(), "actuator: action failed");
                Some(t)
            }
            Err(CommandError::StaleOutcome(r)) => {
                info!(%tenant, receipt = r, "actuator: stale outcome dropped");
                None
            }
            Err(e) => {
                warn!(%tenant, receipt, error = %e, "actuator: outcome refused");
                None
            }
        };
        let notice = Notice::ActionFinished {
            tenant,
            receipt,
            kind,
            backend,
            report,
            transition,
        };
        // Published after the round's commit would be more exact; observers only print.
        let _ = self.shared.notices.send(notice);
    }

    pub(super) fn rollback_outcome(
        &mut self,
        now: u64,
        tenant: String,
        receipt: u64,
        kind: &'static str,
        backend: &'static str,
        report: ActionReport,
    ) {
        if self.poisoned {
            return;
        }
        let result = self.retry(|e| e.handle_rollback_outcome(now, receipt, report.ok));
        match result {
            Ok(()) if report.ok => {
                self.shared.metrics.rollback(kind, report.ok);
                info!(%tenant, receipt, kind, backend, ok = report.ok, detail = %report.detail,
                      "actuator: rollback finished");
            }
            Ok(()) => {
                self.shared.metrics.rollback(kind, report.ok);
                warn!(%tenant, receipt, kind, backend, ok = report.ok, detail = %report.detail,
                      "actuator: rollback failed");
            }
            Err(e) => warn!(receipt, error = %e, "actuator: rollback outcome refused"),
        }
        let _ = self.shared.notices.send(Notice::RollbackFinished {
            tenant,
            receipt,
            report,
        });
    }

    pub(super) fn timeouts(&mut self, now: u64) {
        if self.poisoned {
            return;
        }
        // handle_timeout stops early when the queues fill; drain and go on, a bounded
        // number of times (each pass times out at least one action or stops).
        for _ in 0..autonomic_core::limits::IN_FLIGHT_MAX {
            match self.engine.poll_timeout() {
                Some(deadline) if deadline <= now => {}
                _ => break,
            }
            let done = self.engine.handle_timeout(now);
            if done > 0 {
                info!(count = done, "engine: actions timed out (ExecutionTimeout)");
            }
            self.flush();
            if done == 0 || self.poisoned {
                break;
            }
        }
    }

    pub(super) fn dispatch(&mut self, command: ActionCommand) {
        match command {
            ActionCommand::Run {
                receipt,
                tenant,
                action,
                deadline_ms,
            } => {
                let Some(actuator) = self.actuators.get(action.kind()).cloned() else {
                    return;
                };
                let token = CancellationToken::new();
                self.running.insert(
                    receipt,
                    Running {
                        token: token.clone(),
                    },
                );
                let request = action_request(&tenant, receipt, &action);
                let (kind, backend) = (action.kind().as_str(), actuator.backend().name());
                info!(tenant = %tenant, receipt, kind, backend, deadline_ms, "actuator: run");
                let tx = self.tx.clone();
                let shared = Arc::clone(&self.shared);
                self.runtime.spawn(async move {
                    let started = Instant::now();
                    let report = actuator.run(&request, token).await;
                    shared.metrics.action_duration(kind, started.elapsed());
                    let msg = Msg::Outcome {
                        tenant: request.tenant,
                        receipt,
                        kind,
                        backend,
                        report,
                    };
                    let _ = tx.send(msg).await;
                });
            }
            ActionCommand::Cancel { receipt, tenant } => {
                if let Some(running) = self.running.remove(&receipt) {
                    info!(tenant = %tenant, receipt, "actuator: cancel");
                    running.token.cancel();
                }
            }
            ActionCommand::Rollback {
                receipt,
                tenant,
                action,
                undo,
            } => {
                let Some(actuator) = self.actuators.get(action.kind()).cloned() else {
                    return;
                };
                let request = action_request(&tenant, receipt, &action);
                let (kind, backend) = (action.kind().as_str(), actuator.backend().name());
                info!(tenant = %tenant, receipt, kind, backend, "actuator: rollback");
                let tx = self.tx.clone();
                self.runtime.spawn(async move {
                    let report = actuator.rollback(&request, &undo).await;
                    let msg = Msg::RollbackOutcome {
                        tenant: request.tenant,
                        receipt,
                        kind,
                        backend,
                        report,
                    };
                    let _ = tx.send(msg).await;
                });
            }
        }
    }
}

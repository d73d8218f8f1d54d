//! Actions: actuator runs, their outcomes, rollbacks, cancels and timeouts.

use super::*;

impl Host<'_, '_> {
    /// Applies an actuator's report on a run (the governor reacts to the outcome).
    pub(super) fn outcome(&mut self, now: u64, finished: Finished) {
        let Finished {
            tenant,
            receipt,
            kind,
            backend,
            report,
        } = finished;
        self.running.remove(&receipt);
        if report.cancelled || self.poisoned {
            debug!(receipt, "actuator: cancelled run ended");
            return;
        }
        // The backend's undo token (the prior values a rollback restores) goes into the
        // outcome receipt: a rollback after a restart reads it back from the ledger.
        let input = input::Outcome {
            tenant,
            receipt: Some(receipt),
            succeeded: report.ok,
            undo: report.undo.clone(),
        };
        let result = self.apply(now, &input);
        let tenant = input.tenant;
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

    /// Applies an actuator's report on a rollback.
    pub(super) fn rollback_outcome(&mut self, now: u64, finished: Finished) {
        if self.poisoned {
            return;
        }
        let (receipt, kind, backend) = (finished.receipt, finished.kind, finished.backend);
        let (ok, detail) = (finished.report.ok, &finished.report.detail);
        let tenant = &finished.tenant;
        let input = input::RollbackOutcome {
            receipt,
            succeeded: ok,
        };
        match self.apply(now, &input) {
            Ok(()) if ok => {
                self.shared.metrics.rollback(kind, ok);
                info!(%tenant, receipt, kind, backend, ok, detail = %detail,
                      "actuator: rollback finished");
            }
            Ok(()) => {
                self.shared.metrics.rollback(kind, ok);
                warn!(%tenant, receipt, kind, backend, ok, detail = %detail,
                      "actuator: rollback failed");
            }
            Err(e) => warn!(receipt, error = %e, "actuator: rollback outcome refused"),
        }
        let _ = self.shared.notices.send(Notice::RollbackFinished {
            tenant: finished.tenant,
            receipt,
            report: finished.report,
        });
    }

    pub(super) fn timeouts(&mut self, now: u64) {
        if self.poisoned {
            return;
        }
        // handle_timeout stops early when the queues fill; drain and go on, a bounded
        // number of times (each pass times out at least one action or stops).
        let (in_flight_max, _) = self.engine.execution_capacities();
        for _ in 0..in_flight_max {
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

    /// Hands one action command to its actuator: a run, a cancel or a rollback.
    pub(super) fn dispatch(&mut self, command: ActionCommand) {
        match command {
            ActionCommand::Run {
                receipt,
                tenant,
                action,
                deadline_ms,
            } => {
                let Some(job) = self.job(&tenant, receipt, &action) else {
                    return;
                };
                let (kind, backend) = (job.kind, job.backend);
                info!(tenant = %tenant, receipt, kind, backend, deadline_ms, "actuator: run");
                let token = CancellationToken::new();
                self.running.insert(
                    receipt,
                    Running {
                        token: token.clone(),
                    },
                );
                let shared = Arc::clone(&self.shared);
                self.report_back(Msg::Outcome, job, move |actuator, request| async move {
                    let started = Instant::now();
                    let report = actuator.run(&request, token).await;
                    shared.metrics.action_duration(kind, started.elapsed());
                    report
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
                let Some(job) = self.job(&tenant, receipt, &action) else {
                    return;
                };
                let (kind, backend) = (job.kind, job.backend);
                info!(tenant = %tenant, receipt, kind, backend, "actuator: rollback");
                self.report_back(Msg::RollbackOutcome, job, |actuator, request| async move {
                    actuator.rollback(&request, &undo).await
                });
            }
        }
    }

    /// The actuator for `action`'s kind and what it is asked (`None`: no actuator).
    fn job(&self, tenant: &str, receipt: u64, action: &Action) -> Option<Job> {
        let actuator = self.actuators.get(action.kind()).cloned()?;
        Some(Job {
            kind: action.kind().as_str(),
            backend: actuator.backend().name(),
            request: action_request(tenant, receipt, action),
            actuator,
        })
    }

    /// Runs `work` on the main runtime; its report comes back to this thread as `message`.
    fn report_back<F>(
        &self,
        message: fn(Finished) -> Msg,
        job: Job,
        work: impl FnOnce(Arc<Actuator>, ActionRequest) -> F,
    ) where
        F: Future<Output = ActionReport> + Send + 'static,
    {
        let Job {
            actuator,
            request,
            kind,
            backend,
        } = job;
        let (tenant, receipt) = (request.tenant.clone(), request.receipt);
        let tx = self.tx.clone();
        let work = work(actuator, request);
        self.runtime.spawn(async move {
            let report = work.await;
            let finished = Finished {
                tenant,
                receipt,
                kind,
                backend,
                report,
            };
            let _ = tx.send(message(finished)).await;
        });
    }
}

/// An action handed to its actuator.
struct Job {
    actuator: Arc<Actuator>,
    request: ActionRequest,
    kind: &'static str,
    backend: &'static str,
}

//! The end of a round: commit the receipts (bounded chunks, one commit frame each), answer,
//! dispatch, checkpoint; poisoning on an I/O error; shutdown.

use super::*;

impl Host<'_, '_> {
    /// Drains receipts into the file and commits once; drains action commands into the
    /// round's list. Returns whether everything so far is durable (committed).
    pub(super) fn flush(&mut self) -> bool {
        if self.poisoned {
            return false;
        }
        let mut failed = None;
        self.circuit_log.begin(self.engine.stats());
        while let Some(record) = self.engine.poll_record() {
            self.circuit_log.record(record);
            if failed.is_some() {
                continue;
            }
            // Any number of receipts goes out in bounded chunks, one commit frame each.
            if self.ledger.is_full()
                && let Err(e) = commit_ledger(&mut self.ledger, &self.shared)
            {
                failed = Some(e);
                continue;
            }
            if let Err(e) = self.ledger.append(record) {
                failed = Some(e.to_string());
            }
        }
        self.shared.metrics.publish(self.engine.stats());
        circuits::publish_circuits(self.engine, &self.shared);
        while let Some(command) = self.engine.poll_action() {
            self.commands.push(command);
        }
        if failed.is_none() {
            failed = commit_ledger(&mut self.ledger, &self.shared).err();
        }
        if let Some(reason) = failed {
            self.poison(&reason);
            return false;
        }
        true
    }

    pub(super) fn poison(&mut self, reason: &str) {
        error!(%reason, "ledger: I/O error; stopping actions, refusing mutations, not ready");
        self.poisoned = true;
        self.shared.poisoned.store(true, Ordering::SeqCst);
        self.shared.ready.store(false, Ordering::SeqCst);
        for (_, running) in self.running.drain() {
            running.token.cancel();
        }
        self.commands.clear();
    }

    pub(super) fn end_round(&mut self) {
        let durable = self.flush();
        if let Some(deadline) = self.ledger.sync_deadline()
            && deadline <= Instant::now()
            && !self.poisoned
        {
            match self.ledger.sync_now() {
                Ok(d) => self.shared.metrics.fsync(d),
                Err(e) => self.poison(&e.to_string()),
            }
        }
        for reply in self.replies.drain(..) {
            reply(durable);
        }
        self.checkpoint(false);
        if durable {
            let commands: Vec<ActionCommand> = self.commands.drain(..).collect();
            for command in commands {
                self.dispatch(command);
            }
        } else {
            self.commands.clear();
        }
    }

    /// Signs and writes a checkpoint of the durable head when one is due (`force`: whenever
    /// the head moved). Only committed and synced receipts are ever checkpointed.
    pub(super) fn checkpoint(&mut self, force: bool) {
        if self.poisoned || self.ledger.unsynced_records() > 0 {
            return;
        }
        let seq = self.ledger.records().checked_sub(1);
        let Some(head_seq) = seq.filter(|_| self.checkpointer.due(seq, force)) else {
            return;
        };
        let (text, errors) = self
            .checkpointer
            .write(head_seq, self.ledger.head_hash(), now_ms());
        for e in &errors {
            warn!(error = %e, "checkpoint: write failed");
        }
        self.shared.metrics.checkpoint(errors.is_empty());
        if let Some(poster) = self.witness.clone() {
            let shared = Arc::clone(&self.shared);
            self.runtime.spawn(async move {
                let timeout = Duration::from_millis(WITNESS_TIMEOUT_MS);
                let posted = tokio::time::timeout(timeout, poster.post("text/plain", text.into()));
                let result = match posted.await {
                    Ok(result) => result.map(|_| ()),
                    Err(_) => Err(format!("no answer within {WITNESS_TIMEOUT_MS} ms")),
                };
                if let Err(e) = &result {
                    warn!(url = %poster.uri(), error = %e, "checkpoint: witness webhook failed");
                }
                shared.metrics.checkpoint_witness(result.is_ok());
            });
        }
    }

    /// Starts shutting down: not ready, mutations refused, running actions get
    /// [`SHUTDOWN_GRACE_MS`] to finish.
    pub(super) fn begin_shutdown(&mut self, reply: oneshot::Sender<()>) {
        info!(
            running = self.running.len(),
            "engine: shutting down; waiting for running actions"
        );
        self.shared.ready.store(false, Ordering::SeqCst);
        self.shutdown = Some(ShutdownState {
            deadline: Instant::now() + Duration::from_millis(SHUTDOWN_GRACE_MS),
            reply,
        });
    }

    pub(super) fn shutdown_due(&mut self) -> bool {
        let Some(state) = &self.shutdown else {
            return false;
        };
        if self.running.is_empty() || Instant::now() >= state.deadline {
            return true;
        }
        false
    }

    /// Cancels what still runs, flushes and syncs the ledger, answers the shutdown.
    pub(super) fn finish(&mut self) {
        for (receipt, running) in self.running.drain() {
            warn!(
                receipt,
                "shutdown: cancelling a running action (it will time out after restart)"
            );
            running.token.cancel();
        }
        let _ = self.flush();
        if !self.poisoned
            && let Err(e) = self.ledger.sync_now()
        {
            error!(error = %e, "shutdown: final ledger sync failed");
        }
        for reply in self.replies.drain(..) {
            reply(!self.poisoned);
        }
        self.checkpoint(true);
        if self.poisoned {
            error!("engine: stopped; the ledger was poisoned, unacknowledged changes are lost");
        } else {
            info!(
                head_seq = ?self.engine.ledger().next_seq().checked_sub(1),
                "engine: stopped; ledger flushed"
            );
        }
        if let Some(state) = self.shutdown.take() {
            let _ = state.reply.send(());
        }
    }
}

/// Commits the ledger's buffered records (one commit frame), counting the fsync and
/// publishing the new committed end to readers.
pub(super) fn commit_ledger(ledger: &mut LedgerFile, shared: &Shared) -> Result<(), String> {
    let report = ledger.commit().map_err(|e| e.to_string())?;
    if let Some(d) = report.sync_duration {
        shared.metrics.fsync(d);
    }
    if report.records > 0
        && let Ok(mut view) = shared.ledger_view.write()
        && let Some(view) = view.as_mut()
    {
        view.push(ledger.committed());
    }
    Ok(())
}

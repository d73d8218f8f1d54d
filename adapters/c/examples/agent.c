/* A small agent on the autonomic C ABI: it sizes and allocates the engine's block, builds the
 * engine with the default configuration, runs the seed scenario (activate acme on pro; signals
 * 78, 72, 69, a duplicate, 92, 93, 97; outcomes, a reset, a rollback), then lowers warn at run
 * time and puts a second tenant in shadow mode; it appends every receipt to a file (a 4-byte
 * little-endian length, then the record) with write + fsync, re-reads the file, verifies the
 * chain, and exits 0 only when every expectation held. Usage: agent [ledger-path] */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autonomic.h"

#define TENANT "acme"
#define STR(s) (const uint8_t *)(s), strlen(s)

static AutonomicEngine *engine;
static int ledger_fd = -1;
static uint64_t written;
static uint64_t now_ms = 1000000;
static int failures;
static int step_no;
static AutonomicAction last_action;
static int have_action;

static const char *const STATES[] = {"Stable", "Warn", "Intervene", "Degrade", "Refuse"};
static const char *const KINDS[] = {"none", "throttle", "pause", "shed", "rollback"};

static void check(int ok, const char *what) {
    step_no++;
    printf("step %2d: %-58s %s\n", step_no, what, ok ? "ok" : "FAILED");
    if (!ok) failures++;
}

static int write_all(const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(ledger_fd, p, n);
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Persists every pending receipt, then takes the pending action commands (the last kept). */
static int drain(void) {
    uint8_t record[AUTONOMIC_RECORD_MAX_BYTES];
    size_t len = 0;
    int32_t status;
    while ((status = autonomic_poll_record(engine, record, sizeof record, &len)) == AUTONOMIC_STATUS_OK) {
        uint8_t prefix[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), (uint8_t)(len >> 24)};
        if (write_all(prefix, 4) != 0 || write_all(record, len) != 0 || fsync(ledger_fd) != 0) {
            perror("ledger");
            return -1;
        }
        written++;
    }
    if (status != AUTONOMIC_STATUS_EMPTY) return -1;
    have_action = 0;
    while (autonomic_poll_action(engine, &last_action) == AUTONOMIC_STATUS_OK) have_action = 1;
    return 0;
}

static int signal_of(const char *tenant, double value, uint64_t ts_ms, uint32_t to, uint32_t action,
                     int duplicate) {
    AutonomicSignalResult r;
    int32_t status = autonomic_signal(engine, now_ms, STR(tenant), STR("cpu"), value, ts_ms, &r);
    if (status != AUTONOMIC_STATUS_OK || drain() != 0) return 0;
    if (duplicate) return r.duplicate;
    return !r.duplicate && r.transition.to == to && r.transition.action_kind == action &&
           (action == AUTONOMIC_ACTION_KIND_NONE || (have_action && last_action.kind == action));
}

static int signal_to(double value, uint64_t ts_ms, uint32_t to, uint32_t action, int duplicate) {
    return signal_of(TENANT, value, ts_ms, to, action, duplicate);
}

static int outcome_to(uint64_t receipt, bool succeeded, uint32_t to, uint32_t action) {
    AutonomicTransition t;
    int32_t status = autonomic_outcome(engine, now_ms, STR(TENANT), receipt, succeeded, NULL, 0, &t);
    if (status != AUTONOMIC_STATUS_OK || drain() != 0) return 0;
    return t.to == to && t.action_kind == action;
}

/* Re-reads the ledger file and verifies its chain: every record, in order. */
static int verify_file(const char *path) {
    size_t size = 0, align = 0;
    if (autonomic_verifier_size(&size, &align) != AUTONOMIC_STATUS_OK) return 0;
    void *mem = aligned_alloc(align, (size + align - 1) / align * align);
    AutonomicVerifier *v = NULL;
    int ok = mem != NULL && autonomic_verifier_init(mem, size, &v) == AUTONOMIC_STATUS_OK;
    FILE *f = fopen(path, "rb");
    uint8_t prefix[4], record[AUTONOMIC_RECORD_MAX_BYTES], last_hash[32] = {0}, head[32];
    uint64_t seq = 0;
    while (ok && f != NULL && fread(prefix, 1, 4, f) == 4) {
        size_t len = prefix[0] | prefix[1] << 8 | prefix[2] << 16 | (size_t)prefix[3] << 24;
        int32_t status;
        ok = len >= 32 && len <= sizeof record && fread(record, 1, len, f) == len &&
             (status = autonomic_verifier_push(v, record, len)) == AUTONOMIC_STATUS_OK;
        if (ok) memcpy(last_hash, record + len - 32, 32);
    }
    ok = ok && f != NULL && autonomic_verifier_head(v, &seq, head) == AUTONOMIC_STATUS_OK &&
         seq == written && memcmp(head, last_hash, 32) == 0;
    if (f != NULL) fclose(f);
    free(mem);
    printf("verified %llu receipts from %s\n", (unsigned long long)seq, path);
    return ok;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "agent-ledger.bin";
    AutonomicCapacities caps;
    size_t size = 0, align = 0;
    if (autonomic_capacities_default(&caps) != AUTONOMIC_STATUS_OK) return 2;
    caps.tenants = 16;
    caps.tenant_id_bytes = 16 * 32;
    caps.dedup_ids = 4096;
    if (autonomic_storage_size(&caps, &size, &align) != AUTONOMIC_STATUS_OK) return 2;
    AutonomicConfig config;
    if (autonomic_config_default(&config) != AUTONOMIC_STATUS_OK) return 2;
    void *block = aligned_alloc(align, (size + align - 1) / align * align);
    int32_t status = block == NULL ? AUTONOMIC_STATUS_NULL_POINTER
                                   : autonomic_engine_init_config(block, size, &caps, &config, &engine);
    if (status != AUTONOMIC_STATUS_OK) {
        fprintf(stderr, "init: %s\n", autonomic_error_name(status));
        return 2;
    }
    printf("engine block: %zu bytes, aligned to %zu\n", size, align);
    ledger_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (ledger_fd < 0) {
        perror(path);
        return 2;
    }

    uint32_t state = 99;
    status = autonomic_entitlement(engine, now_ms, STR(TENANT), AUTONOMIC_ENTITLEMENT_COMMAND_ACTIVATE,
                                   STR("pro"), AUTONOMIC_NONE, &state);
    check(status == AUTONOMIC_STATUS_OK && drain() == 0 && state == AUTONOMIC_ENTITLEMENT_STATE_ACTIVE,
          "activate acme on pro -> Active");
    now_ms += 5000;
    check(signal_to(78, now_ms, AUTONOMIC_GOVERNOR_STATE_WARN, AUTONOMIC_ACTION_KIND_NONE, 0), "cpu 78 -> Warn");
    now_ms += 5000;
    check(signal_to(72, now_ms, AUTONOMIC_GOVERNOR_STATE_WARN, AUTONOMIC_ACTION_KIND_NONE, 0), "cpu 72 -> stays Warn");
    now_ms += 5000;
    check(signal_to(69, now_ms, AUTONOMIC_GOVERNOR_STATE_STABLE, AUTONOMIC_ACTION_KIND_NONE, 0), "cpu 69 -> Stable");
    check(signal_to(69, now_ms, 0, 0, 1), "cpu 69 again, same window -> duplicate");
    now_ms += 5000;
    check(signal_to(92, now_ms, AUTONOMIC_GOVERNOR_STATE_INTERVENE, AUTONOMIC_ACTION_KIND_THROTTLE, 0) &&
              last_action.command == AUTONOMIC_COMMAND_KIND_RUN && last_action.percent == 50,
          "cpu 92 -> Intervene, run throttle 50");
    uint64_t throttled = last_action.receipt;
    check(outcome_to(throttled, true, AUTONOMIC_GOVERNOR_STATE_WARN, AUTONOMIC_ACTION_KIND_NONE),
          "throttle succeeded -> Warn");
    now_ms += 5000;
    check(signal_to(93, now_ms, AUTONOMIC_GOVERNOR_STATE_INTERVENE, AUTONOMIC_ACTION_KIND_THROTTLE, 0),
          "cpu 93 -> Intervene, run throttle");
    check(outcome_to(last_action.receipt, false, AUTONOMIC_GOVERNOR_STATE_DEGRADE, AUTONOMIC_ACTION_KIND_PAUSE) &&
              have_action && last_action.kind == AUTONOMIC_ACTION_KIND_PAUSE,
          "throttle failed -> Degrade, run pause");
    check(outcome_to(last_action.receipt, true, AUTONOMIC_GOVERNOR_STATE_DEGRADE, AUTONOMIC_ACTION_KIND_NONE),
          "pause succeeded -> stays Degrade");
    now_ms += 5000;
    check(signal_to(97, now_ms, AUTONOMIC_GOVERNOR_STATE_REFUSE, AUTONOMIC_ACTION_KIND_SHED, 0),
          "cpu 97 -> Refuse, run shed");
    check(outcome_to(last_action.receipt, true, AUTONOMIC_GOVERNOR_STATE_REFUSE, AUTONOMIC_ACTION_KIND_NONE),
          "shed succeeded -> stays Refuse");
    AutonomicTransition t;
    status = autonomic_reset(engine, now_ms, STR(TENANT), &t);
    check(status == AUTONOMIC_STATUS_OK && drain() == 0 && t.to == AUTONOMIC_GOVERNOR_STATE_STABLE,
          "reset -> Stable");
    uint64_t request = 0;
    status = autonomic_rollback(engine, now_ms, throttled, &request);
    check(status == AUTONOMIC_STATUS_OK && drain() == 0 && have_action &&
              last_action.command == AUTONOMIC_COMMAND_KIND_ROLLBACK && last_action.receipt == throttled,
          "roll back the first throttle -> rollback command");
    status = autonomic_rollback_outcome(engine, now_ms, throttled, true);
    check(status == AUTONOMIC_STATUS_OK && drain() == 0, "rollback succeeded");
    status = autonomic_rollback(engine, now_ms, throttled, NULL);
    check(status == AUTONOMIC_STATUS_RECEIPT_NOT_FOUND, "a second rollback -> ReceiptNotFound");
    AutonomicTenantView view;
    status = autonomic_tenant(engine, now_ms, STR(TENANT), &view);
    check(status == AUTONOMIC_STATUS_OK && view.state == AUTONOMIC_GOVERNOR_STATE_STABLE &&
              view.entitlement == AUTONOMIC_ENTITLEMENT_STATE_ACTIVE && view.in_flight_kind == 0,
          "acme: Active, Stable, nothing in flight");
    printf("acme is %s; last action kind %s\n", STATES[view.state % 5], KINDS[last_action.kind % 5]);

    config.warn = 60;
    config.recover = 55;
    const uint8_t hash[AUTONOMIC_CONFIG_HASH_BYTES] = {1}; /* the SHA-256 of its source, here made up */
    uint64_t seq = 0;
    status = autonomic_config(engine, now_ms, &config, hash, &seq);
    check(status == AUTONOMIC_STATUS_OK && drain() == 0 && seq + 1 == written, "config warn 60 -> one receipt");
    config.intervene = 60;
    status = autonomic_config(engine, now_ms, &config, hash, NULL);
    check(status == AUTONOMIC_STATUS_INVALID_THRESHOLDS, "warn 60 = intervene 60 -> InvalidThresholds");
    status = autonomic_entitlement(engine, now_ms, STR("beta"), AUTONOMIC_ENTITLEMENT_COMMAND_ACTIVATE,
                                   STR("pro"), AUTONOMIC_NONE, NULL);
    check(status == AUTONOMIC_STATUS_OK && drain() == 0, "activate beta on pro");
    now_ms += 5000;
    check(signal_of("beta", 65, now_ms, AUTONOMIC_GOVERNOR_STATE_WARN, AUTONOMIC_ACTION_KIND_NONE, 0),
          "beta cpu 65 -> Warn (65 >= the new warn 60)");
    status = autonomic_mode(engine, now_ms, STR("beta"), AUTONOMIC_MODE_SHADOW, NULL);
    check(status == AUTONOMIC_STATUS_OK && drain() == 0, "beta -> shadow mode");
    AutonomicSignalResult r;
    status = autonomic_signal(engine, now_ms, STR("beta"), STR("cpu"), 92, now_ms, &r);
    check(status == AUTONOMIC_STATUS_OK && drain() == 0 && r.transition.to == AUTONOMIC_GOVERNOR_STATE_INTERVENE &&
              r.transition.action_kind == AUTONOMIC_ACTION_KIND_THROTTLE && !have_action,
          "beta cpu 92 -> Intervene, throttle recorded, nothing runs");

    close(ledger_fd);
    check(verify_file(path), "the ledger file's chain verifies");
    autonomic_engine_fini(engine);
    free(block);
    printf("%s: %d step(s) failed, %llu receipts written\n", failures ? "FAILED" : "ok", failures,
           (unsigned long long)written);
    return failures ? 1 : 0;
}

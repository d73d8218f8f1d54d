//! The TOML config (`docs/config.md`): defaults, a full example, and one-line errors naming
//! the file and the key for every bad value and unknown key.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::path::PathBuf;

use autonomic_tokio::config::{
    ActuatorSection, BackendKind, Config, ConfigError, DEFAULT_TIMEOUT_MS, GovernorSection,
    SamplerSection, TenantSection,
};
use autonomic_tokio::ledger_file::FsyncPolicy;

/// A commented example file (top-level keys, `[governor]`, `[sampler]`, `[[tenants]]`,
/// `[actuators]`).
const SPEC_EXAMPLE: &str = r#"
listen = "127.0.0.1:7411"
data_dir = "./autonomic-data"
token = "s3cret"              # mutating endpoints need it; unset = no auth (loopback only)
fsync = "always"              # or "batch"
ledger_capacity = 1024        # receipts kept in memory

[governor]                    # the governor's thresholds
warn = 75
recover = 70
intervene = 90
refuse = 95
sustain = 3

[sampler]                     # host signals from /proc
enabled = true
tenant = "local"
sku = "pro"
interval_ms = 1000

[[tenants]]                   # activated at start unless the ledger already knows them
id = "acme"
sku = "pro"

[actuators.throttle]          # also [actuators.pause], [actuators.shed], [actuators.rollback]
backend = "exec"              # dry-run | exec | webhook | cgroup
program = "/usr/local/bin/lb-ctl"
args = ["throttle", "{tenant}", "{percent}", "{receipt}"]
rollback_program = "/usr/local/bin/lb-ctl"
rollback_args = ["unthrottle", "{tenant}", "{receipt}"]
timeout_ms = 30000

[actuators.shed]
backend = "webhook"
url = "http://127.0.0.1:9000/shed"

[actuators.pause]
backend = "cgroup"
group = "workload"            # under the v2 mount, or the v1 cpu and freezer mounts,
                              # found in /proc/self/mountinfo; `root = DIR` overrides the mount
"#;

/// Parses `text` as `bad.toml` and returns the error's one-line message.
fn error_of(text: &str) -> String {
    let error = Config::from_str(text, "bad.toml").unwrap_err();
    let message = error.to_string();
    assert!(!message.contains('\n'), "one line: {message:?}");
    assert!(message.starts_with("config bad.toml: "), "{message}");
    message
}

#[test]
fn empty_file_is_the_default() {
    // Proves: every key is optional, and the defaults are those of docs/config.md.
    // Arrange
    let text = "";
    // Act
    let config = Config::from_str(text, "empty.toml").unwrap();
    // Assert
    assert_eq!(config, Config::default());
    assert_eq!(
        config.listen,
        "127.0.0.1:7411".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(config.data_dir, PathBuf::from("./autonomic-data"));
    assert_eq!(config.token, None);
    assert_eq!(config.fsync, FsyncPolicy::Always);
    assert_eq!(config.ledger_capacity, 1024);
    assert_eq!(config.max_body_bytes, 1024 * 1024);
    assert_eq!(config.max_concurrent_requests, 256);
    assert_eq!(
        (
            config.header_read_timeout_ms,
            config.idle_timeout_ms,
            config.body_read_timeout_ms,
            config.max_connections
        ),
        (5_000, 15_000, 10_000, 1024)
    );
    assert!(config.allowed_origins.is_empty() && config.allowed_hosts.is_empty());
    let g = config.governor;
    assert_eq!(
        (g.warn, g.recover, g.intervene, g.refuse, g.sustain),
        (75, 70, 90, 95, 3)
    );
    assert_eq!(
        config.sampler,
        SamplerSection {
            enabled: true,
            tenant: "local".into(),
            sku: "pro".into(),
            interval_ms: 1000,
        }
    );
    assert!(config.tenants.is_empty());
    for (_, section) in config.actuators.sections() {
        assert_eq!(section, &ActuatorSection::default());
        assert_eq!(section.backend, BackendKind::DryRun);
        assert_eq!(section.timeout_ms, DEFAULT_TIMEOUT_MS);
    }
}

#[test]
fn default_config_is_valid() {
    // Proves: Config::default passes its own validation (what `run` with no config uses).
    // Arrange
    let config = Config::default();
    // Act
    let result = config.validate();
    // Assert
    assert_eq!(result, Ok(()));
}

#[test]
fn spec_example_parses() {
    // Proves: the full example is accepted and read as written.
    // Arrange
    let text = SPEC_EXAMPLE;
    // Act
    let config = Config::from_str(text, "spec.toml").unwrap();
    // Assert
    assert_eq!(config.token.as_deref(), Some("s3cret"));
    assert_eq!(config.governor, GovernorSection::default());
    assert_eq!(
        config.tenants,
        vec![TenantSection {
            id: "acme".into(),
            sku: "pro".into(),
            expires_at_ms: None,
            mode: None,
        }]
    );
    let throttle = &config.actuators.throttle;
    assert_eq!(throttle.backend, BackendKind::Exec);
    assert_eq!(throttle.program.as_deref(), Some("/usr/local/bin/lb-ctl"));
    assert_eq!(
        throttle.args,
        ["throttle", "{tenant}", "{percent}", "{receipt}"]
    );
    assert_eq!(
        throttle.rollback_args,
        ["unthrottle", "{tenant}", "{receipt}"]
    );
    assert_eq!(throttle.timeout_ms, 30_000);
    assert_eq!(config.actuators.shed.backend, BackendKind::Webhook);
    assert_eq!(
        config.actuators.shed.url.as_deref(),
        Some("http://127.0.0.1:9000/shed")
    );
    assert_eq!(config.actuators.pause.backend, BackendKind::Cgroup);
    assert_eq!(config.actuators.pause.group.as_deref(), Some("workload"));
    assert_eq!(config.actuators.rollback, ActuatorSection::default());
}

#[test]
fn extensions_and_optional_keys_parse() {
    // Proves: the documented extension keys, tenant expiry, batch fsync and a cgroup root
    // are accepted.
    // Arrange
    let text = r#"
        fsync = "batch"
        max_body_bytes = 65536
        max_concurrent_requests = 8
        header_read_timeout_ms = 1000
        idle_timeout_ms = 2000
        body_read_timeout_ms = 3000
        max_connections = 64
        allowed_origins = ["http://localhost:3000", "chrome-extension://abcdef"]
        allowed_hosts = ["sidecar.internal", "10.0.0.5", "[fd00::1]"]
        [[tenants]]
        id = "a"
        sku = "starter"
        expires_at_ms = 1700000000000
        [[tenants]]
        id = "b"
        sku = "enterprise"
        [actuators.throttle]
        backend = "cgroup"
        group = "tenants/{tenant}"
        root = "/sys/fs/cgroup"
    "#;
    // Act
    let config = Config::from_str(text, "ext.toml").unwrap();
    // Assert
    assert_eq!(config.fsync, FsyncPolicy::Batch);
    assert_eq!(config.max_body_bytes, 65_536);
    assert_eq!(config.max_concurrent_requests, 8);
    assert_eq!(
        (
            config.header_read_timeout_ms,
            config.idle_timeout_ms,
            config.body_read_timeout_ms,
            config.max_connections
        ),
        (1000, 2000, 3000, 64)
    );
    assert_eq!(config.allowed_origins.len(), 2);
    assert_eq!(config.allowed_hosts[2], "[fd00::1]");
    assert_eq!(config.tenants[0].expires_at_ms, Some(1_700_000_000_000));
    assert_eq!(config.tenants[1].sku, "enterprise");
    assert_eq!(
        config.actuators.throttle.root,
        Some(PathBuf::from("/sys/fs/cgroup"))
    );
}

#[test]
fn messages_of_the_brief_examples() {
    // Proves: the two canonical messages read exactly as documented.
    // Arrange
    let typo = "[governor]\nwran = 80\n";
    let order = "[governor]\nwarn = 95\n";
    // Act
    let typo_message = error_of(typo);
    let order_message = error_of(order);
    // Assert
    assert!(
        typo_message.starts_with("config bad.toml: unknown key 'governor.wran' at line 2"),
        "{typo_message}"
    );
    assert_eq!(
        order_message,
        "config bad.toml: governor.warn: must be < intervene (90), got 95"
    );
}

#[test]
fn unknown_keys_are_named_at_every_level() {
    // Proves: an unknown key anywhere is an UnknownKey error naming its dotted path.
    let cases = [
        ("bogus = 1", "bogus"),
        ("[governor]\nwarn = 75\nwran = 80", "governor.wran"),
        ("[sampler]\nintervall_ms = 5", "sampler.intervall_ms"),
        (
            "[[tenants]]\nid = \"a\"\nsku = \"pro\"\n[[tenants]]\nid = \"b\"\nsku = \"pro\"\ncolor = 1",
            "tenants[1].color",
        ),
        (
            "[actuators.throttel]\nbackend = \"exec\"",
            "actuators.throttel",
        ),
        (
            "[actuators.shed]\nbackend = \"webhook\"\nuri = \"x\"",
            "actuators.shed.uri",
        ),
        ("governor = { warn = 75, x = 1 }", "governor.x"),
    ];
    for (text, key) in cases {
        // Arrange
        // Act
        let error = Config::from_str(text, "bad.toml").unwrap_err();
        let message = error_of(text);
        // Assert
        assert!(
            matches!(&error, ConfigError::UnknownKey { key: k, .. } if k == key),
            "{text:?}: {error:?}"
        );
        assert!(
            message.contains(&format!("unknown key '{key}'")),
            "{message}"
        );
    }
}

#[test]
fn bad_values_are_named_by_key() {
    // Proves: every bad value (wrong type, out of bounds, inconsistent) is a one-line error
    // naming the file and the key, with what was wrong.
    let cases: &[(&str, &str, &str)] = &[
        ("listen = \"nope\"", "listen", "socket address"),
        (
            "[actuators.pause]\nbackend = \"cgroup\"\ngroup = \"a//b\"",
            "actuators.pause.group",
            "empty component",
        ),
        (
            "[actuators.pause]\nbackend = \"cgroup\"\ngroup = \"a/./{tenant}\"",
            "actuators.pause.group",
            "`.` component",
        ),
        (
            "[checkpoint]\nwebhook = \"https://witness.example/\"",
            "checkpoint.webhook",
            "https is not supported",
        ),
        (
            "[checkpoint]\ninterval_ms = 99",
            "checkpoint.interval_ms",
            "got 99",
        ),
        ("[checkpoint]\nkey = \"\"", "checkpoint.key", "empty"),
        ("data_dir = \"\"", "data_dir", "empty"),
        ("token = \"\"", "token", "empty"),
        ("token = \"has space\"", "token", "visible ASCII"),
        ("fsync = \"sometimes\"", "fsync", "sometimes"),
        (
            "ledger_capacity = 15",
            "ledger_capacity",
            "16..=65536, got 15",
        ),
        ("ledger_capacity = 65537", "ledger_capacity", "got 65537"),
        ("ledger_capacity = -1", "ledger_capacity", "-1"),
        ("max_tenants = 0", "max_tenants", "got 0"),
        ("max_tenants = 16777217", "max_tenants", "got 16777217"),
        ("tenant_id_bytes = 255", "tenant_id_bytes", "got 255"),
        ("dedup_ids = 1023", "dedup_ids", "got 1023"),
        ("max_in_flight = 0", "max_in_flight", "got 0"),
        ("max_in_flight = 4097", "max_in_flight", "got 4097"),
        ("max_rollbackable = 65537", "max_rollbackable", "got 65537"),
        ("dedup_ids = 67108865", "dedup_ids", "got 67108865"),
        (
            "max_tenants = 1\n[[tenants]]\nid = \"acme\"\nsku = \"pro\"",
            "max_tenants",
            "must hold the 2 configured tenants",
        ),
        ("max_body_bytes = 10", "max_body_bytes", "got 10"),
        (
            "max_concurrent_requests = 0",
            "max_concurrent_requests",
            "got 0",
        ),
        (
            "idle_timeout_ms = 99",
            "idle_timeout_ms",
            "100..=600000, got 99",
        ),
        (
            "header_read_timeout_ms = 600001",
            "header_read_timeout_ms",
            "got 600001",
        ),
        ("body_read_timeout_ms = 0", "body_read_timeout_ms", "got 0"),
        ("max_connections = 0", "max_connections", "got 0"),
        (
            "allowed_origins = [\"http://a.example/\"]",
            "allowed_origins[0]",
            "scheme://host[:port]",
        ),
        (
            "allowed_origins = [\"a.example\"]",
            "allowed_origins[0]",
            "scheme://host[:port]",
        ),
        ("allowed_origins = [\"\"]", "allowed_origins[0]", "got 0"),
        (
            "allowed_hosts = [\"a.example:8080\"]",
            "allowed_hosts[0]",
            "without a port",
        ),
        (
            "allowed_hosts = [\"a b\"]",
            "allowed_hosts[0]",
            "without a port",
        ),
        (
            "[governor]\nrecover = 80",
            "governor.recover",
            "<= warn (75), got 80",
        ),
        (
            "[governor]\nintervene = 96",
            "governor.intervene",
            "<= refuse (95), got 96",
        ),
        (
            "[governor]\nrefuse = 101",
            "governor.refuse",
            "<= 100, got 101",
        ),
        (
            "[governor]\nwarn = 90",
            "governor.warn",
            "< intervene (90), got 90",
        ),
        (
            "[governor]\nwarn = 70\nwarn = 71",
            "governor.warn",
            "duplicate key",
        ),
        (
            "[governor]\nsustain = 0",
            "governor.sustain",
            "1..=255, got 0",
        ),
        ("[governor]\nsustain = 256", "governor.sustain", "got 256"),
        ("[governor]\nwarn = 300", "governor.warn", "300"),
        ("[governor]\nwarn = \"x\"", "governor.warn", "string"),
        (
            "[sampler]\ninterval_ms = 99",
            "sampler.interval_ms",
            "100..=3600000, got 99",
        ),
        (
            "[sampler]\nsku = \"gold\"",
            "sampler.sku",
            "starter, pro, enterprise",
        ),
        ("[sampler]\ntenant = \"\"", "sampler.tenant", "empty"),
        ("[sampler]\nenabled = \"yes\"", "sampler.enabled", "bool"),
        (
            "[[tenants]]\nid = \"\"\nsku = \"pro\"",
            "tenants[0].id",
            "empty",
        ),
        (
            "[[tenants]]\nid = \"a b\"\nsku = \"pro\"",
            "tenants[0].id",
            "visible ASCII",
        ),
        (
            "[[tenants]]\nid = \"a\"\nsku = \"gold\"",
            "tenants[0].sku",
            "\"gold\"",
        ),
        (
            "[[tenants]]\nid = \"a\"\nsku = \"pro\"\n[[tenants]]\nid = \"b\"",
            "tenants[1].sku",
            "missing",
        ),
        (
            "[[tenants]]\nid = \"a\"\nsku = \"pro\"\n[[tenants]]\nid = \"a\"\nsku = \"pro\"",
            "tenants[1].id",
            "duplicate",
        ),
        (
            "[[tenants]]\nid = \"a\"\nsku = \"pro\"\nmode = \"dry\"",
            "tenants[0].mode",
            "enforce, shadow, got \"dry\"",
        ),
        (
            "[actions.pro]\nintervene_throttle_pct = 0",
            "actions.pro.intervene_throttle_pct",
            "1..=100, got 0",
        ),
        (
            "[actuators.pause]\nbackend = \"ssh\"",
            "actuators.pause.backend",
            "ssh",
        ),
        (
            "[actuators.throttle]\ntimeout_ms = 0",
            "actuators.throttle.timeout_ms",
            "got 0",
        ),
        (
            "[actuators.throttle]\ntimeout_ms = 3600001",
            "actuators.throttle.timeout_ms",
            "got 3600001",
        ),
        (
            "[actuators.throttle]\nbackend = \"exec\"",
            "actuators.throttle.program",
            "required",
        ),
        (
            "[actuators.throttle]\nbackend = \"exec\"\nprogram = \"/bin/x\"\nrollback_args = [\"a\"]",
            "actuators.throttle.rollback_args",
            "without rollback_program",
        ),
        (
            "[actuators.throttle]\nbackend = \"exec\"\nprogram = \"/bin/x\"\nurl = \"http://h/\"",
            "actuators.throttle.url",
            "only for backend webhook (backend is exec)",
        ),
        (
            "[actuators.throttle]\nprogram = \"/bin/x\"",
            "actuators.throttle.program",
            "only for backend exec (backend is dry-run)",
        ),
        (
            "[actuators.shed]\nbackend = \"webhook\"",
            "actuators.shed.url",
            "required",
        ),
        (
            "[actuators.shed]\nbackend = \"webhook\"\nurl = \"https://h/x\"",
            "actuators.shed.url",
            "https is not supported",
        ),
        (
            "[actuators.shed]\nbackend = \"webhook\"\nurl = \"ftp://h/x\"",
            "actuators.shed.url",
            "http://",
        ),
        (
            "[[notify]]\nurl = \"https://h/x\"",
            "notify[0].url",
            "https is not supported",
        ),
        (
            "[[notify]]\nurl = \"http://h/x\"\n[[notify]]\nurl = \"http://h/y\"\ntimeout_ms = 0",
            "notify[1].timeout_ms",
            "got 0",
        ),
        (
            "[actuators.shed]\nbackend = \"webhook\"\nurl = \"http://h/x\"\nbatch_ms = 0",
            "actuators.shed.batch_ms",
            "must be within 1..=10000, got 0",
        ),
        (
            "[actuators.shed]\nbackend = \"webhook\"\nurl = \"http://h/x\"\nbatch_ms = 10001",
            "actuators.shed.batch_ms",
            "got 10001",
        ),
        (
            "[actuators.throttle]\nbackend = \"exec\"\nprogram = \"/bin/x\"\nbatch_ms = 100",
            "actuators.throttle.batch_ms",
            "only for backend webhook (backend is exec)",
        ),
        (
            "[actuators.shed]\nbackend = \"webhook\"\nurl = \"http:///x\"",
            "actuators.shed.url",
            "no host",
        ),
        (
            "[actuators.shed]\nbackend = \"webhook\"\nurl = \"http://h\"\ngroup = \"g\"",
            "actuators.shed.group",
            "only for backend cgroup",
        ),
        (
            "[actuators.shed]\nbackend = \"cgroup\"\ngroup = \"g\"",
            "actuators.shed.backend",
            "only throttle and pause",
        ),
        (
            "[actuators.rollback]\nbackend = \"cgroup\"\ngroup = \"g\"",
            "actuators.rollback.backend",
            "only throttle and pause",
        ),
        (
            "[actuators.pause]\nbackend = \"cgroup\"",
            "actuators.pause.group",
            "required",
        ),
        (
            "[actuators.pause]\nbackend = \"cgroup\"\ngroup = \"../escape\"",
            "actuators.pause.group",
            "..",
        ),
        (
            "[actuators.pause]\nbackend = \"cgroup\"\ngroup = \"/abs\"",
            "actuators.pause.group",
            "relative",
        ),
        (
            "[actuators.pause]\nbackend = \"cgroup\"\ngroup = \"g\"\nroot = \"rel\"",
            "actuators.pause.root",
            "absolute",
        ),
    ];
    for &(text, key, detail) in cases {
        // Arrange
        // Act
        let message = error_of(text);
        // Assert
        assert!(
            message.contains(&format!("{key}: ")) || message.contains(&format!("'{key}'")),
            "{text:?} should name {key}: {message}"
        );
        assert!(
            message.contains(detail),
            "{text:?} should say {detail:?}: {message}"
        );
    }
}

#[test]
fn syntax_error_names_the_line() {
    // Proves: text that is not TOML gives a one-line error with its line number.
    // Arrange
    let text = "listen = \"127.0.0.1:1\"\n[governor\nwarn = 1\n";
    // Act
    let message = error_of(text);
    // Assert
    assert!(message.contains("(line 2)"), "{message}");
}

#[test]
fn from_file_reads_a_real_file_and_names_it() {
    // Proves: from_file parses a file on disk, and an error names that file's path.
    // Arrange
    let dir = tempfile::TempDir::new().unwrap();
    let good = dir.path().join("good.toml");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&good, "ledger_capacity = 64\n").unwrap();
    std::fs::write(&bad, "[sampler]\ninterval_ms = 1\n").unwrap();
    let missing = dir.path().join("missing.toml");
    // Act
    let config = Config::from_file(&good).unwrap();
    let bad_message = Config::from_file(&bad).unwrap_err().to_string();
    let missing_error = Config::from_file(&missing).unwrap_err();
    // Assert
    assert_eq!(config.ledger_capacity, 64);
    assert_eq!(
        bad_message,
        format!(
            "config {}: sampler.interval_ms: must be within 100..=3600000, got 1",
            bad.display()
        )
    );
    assert!(matches!(missing_error, ConfigError::Read { .. }));
    assert!(missing_error.to_string().contains("missing.toml"));
}

#[test]
fn oversized_file_is_refused() {
    // Proves: the config reader has a size limit and says so.
    // Arrange
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("huge.toml");
    let text = format!("# {}\n", "x".repeat(2 * 1024 * 1024));
    std::fs::write(&path, text).unwrap();
    // Act
    let error = Config::from_file(&path).unwrap_err();
    // Assert
    assert!(matches!(error, ConfigError::TooLarge { .. }), "{error:?}");
}

#[test]
fn command_line_overrides_are_plain_fields() {
    // Proves: `--listen` and `--data-dir` can replace the file's values, and validation
    // still checks the result.
    // Arrange
    let mut config = Config::from_str(SPEC_EXAMPLE, "spec.toml").unwrap();
    // Act
    config.listen = "0.0.0.0:9000".parse().unwrap();
    config.data_dir = PathBuf::from("/var/lib/autonomic");
    let valid = config.validate();
    config.data_dir = PathBuf::new();
    let invalid = config.validate().unwrap_err();
    // Assert
    assert_eq!(valid, Ok(()));
    assert_eq!(invalid.key, "data_dir");
}

#[test]
fn garbage_never_panics_and_errors_stay_one_line() {
    // Proves: thousands of random TOML-ish documents give Ok or a one-line error, never a panic.
    // Arrange
    let tokens = [
        "[",
        "]",
        "[[",
        "]]",
        "tenants",
        "governor",
        "actuators.pause",
        ".",
        "=",
        "\"",
        "'",
        "\n",
        " ",
        "warn",
        "x",
        "1",
        "-5",
        "300",
        "#",
        "é",
        "{",
        "}",
        ",",
        "sku",
        "\"pro\"",
        "id",
        "backend",
        "\"cgroup\"",
        "\u{2603}",
        "\\",
        "[actuators.throttle]\n",
        "[[tenants]]\n",
    ];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..3000 {
        let mut text = String::new();
        for _ in 0..(state % 40) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            text.push_str(tokens[(state % tokens.len() as u64) as usize]);
        }
        // Act
        let result = Config::from_str(&text, "fuzz.toml");
        // Assert
        if let Err(error) = result {
            let message = error.to_string();
            assert!(!message.contains('\n'), "{text:?}: {message:?}");
            assert!(message.starts_with("config fuzz.toml: "), "{message}");
        }
    }
}

#[test]
fn capacities_come_from_the_file_and_default_to_the_documented_sizes() {
    // Proves the four sizing keys reach the engine's capacities, and their defaults.
    let defaults = Config::default().capacities();
    assert_eq!(
        (
            defaults.tenants,
            defaults.tenant_id_bytes,
            defaults.dedup_ids,
            defaults.receipts
        ),
        (1024, 32 * 1024, 650_000, 1024)
    );
    assert_eq!((defaults.in_flight, defaults.rollbackable), (64, 64));
    let text = "max_tenants = 100000\ndedup_ids = 2048\nledger_capacity = 64\n\
                max_in_flight = 8\nmax_rollbackable = 300\n";
    let caps = Config::from_str(text, "-").unwrap().capacities();
    assert_eq!(
        (
            caps.tenants,
            caps.tenant_id_bytes,
            caps.dedup_ids,
            caps.receipts
        ),
        (100_000, 3_200_000, 2048, 64)
    );
    assert_eq!((caps.in_flight, caps.rollbackable), (8, 300));
    let caps = Config::from_str("tenant_id_bytes = 4096\n", "-")
        .unwrap()
        .capacities();
    assert_eq!(caps.tenant_id_bytes, 4096);
}

#[test]
fn max_timers_sizes_the_governor_timer_table_and_bad_values_are_named() {
    // Proves `max_timers` defaults to 128, reaches the engine's capacities, and that a value
    // outside 1..=65536 (or not an integer) is a one-line error naming the key.
    assert_eq!(Config::default().max_timers, 128);
    assert_eq!(Config::default().capacities().timers, 128);
    for (text, timers) in [("max_timers = 1\n", 1), ("max_timers = 65536\n", 65_536)] {
        let config = Config::from_str(text, "-").unwrap();
        assert_eq!(config.capacities().timers, timers, "{text}");
    }
    let cases = [
        ("max_timers = 0", "1..=65536, got 0"),
        ("max_timers = 65537", "1..=65536, got 65537"),
        ("max_timers = -1", "-1"),
        ("max_timers = \"many\"", "many"),
    ];
    for (text, detail) in cases {
        let message = error_of(text);
        assert!(message.contains("max_timers"), "{text:?}: {message}");
        assert!(message.contains(detail), "{text:?}: {message}");
    }
}

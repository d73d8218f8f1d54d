//! `[fleet]`: sidecars sharing one real Redis (Debian's `redis-server`, started here on a
//! free loopback port, nothing saved) count admissions fleet-wide: one quota for all of
//! them, slots freed by release and by an expired lease, and the `on_unavailable` policy
//! when Redis dies, then rejoining when it comes back.

mod cli_support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cli_support::{Response, Sidecar, config, skipped, wait_until};

/// The lease of these tests' sidecars: short, so an expiry is seen quickly.
const LEASE_MS: u64 = 1_500;

/// A `redis-server` child on 127.0.0.1:`port`, killed on drop.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let redis = Redis { child, port };
        assert!(
            wait_until(Duration::from_secs(10), || redis.ping()),
            "redis-server did not answer PING on port {port}"
        );
        redis
    }

    fn ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Whether `redis-server` runs here; says SKIPPED (and fails under `CI`) when not.
fn redis_available(test: &str) -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        skipped(&format!(
            "SKIPPED: fleet_redis::{test}: redis-server is not installed (apt-get install redis-server)"
        ));
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install redis-server"
        );
    }
    found
}

/// A fresh Redis on a free port and a temp dir, or `None` (SKIPPED) without redis-server.
fn redis_and_dir(test: &str) -> Option<(Redis, tempfile::TempDir)> {
    if !redis_available(test) {
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    Some((Redis::start(free_port()), dir))
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A sidecar with tenant `acme` on `starter` (100 concurrent requests) in `dir`.
fn sidecar(dir: &Path, port: u16, policy: &str) -> Sidecar {
    let toml = format!(
        "[[tenants]]\nid = \"acme\"\nsku = \"starter\"\n[fleet]\n\
         redis = \"redis://127.0.0.1:{port}\"\nlease_ms = {LEASE_MS}\ntimeout_ms = 200\n\
         on_unavailable = \"{policy}\"\n"
    );
    let s = Sidecar::start(dir, &config(&toml));
    assert!(
        wait_until(Duration::from_secs(10), || redis_up(&s) == Some(1)),
        "sidecar did not connect to redis: {}",
        s.stderr_log()
    );
    s
}

fn admit(s: &Sidecar) -> Response {
    s.post("/v1/tenants/acme/admit", r#"{"resource":"requests"}"#)
}

fn release(s: &Sidecar, amount: u32) -> Response {
    let body = format!(r#"{{"resource":"requests","amount":{amount}}}"#);
    s.post("/v1/tenants/acme/release", &body)
}

/// The value of the metric line starting with `series ` on `/metrics`.
fn metric(s: &Sidecar, series: &str) -> Option<u64> {
    let text = s.get("/metrics").body;
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn redis_up(s: &Sidecar) -> Option<u64> {
    metric(s, "autonomic_fleet_redis_up")
}

/// Admissions through `s` until the first refusal (at most `max`): how many were admitted.
fn admit_until_refused(s: &Sidecar, max: u32) -> u32 {
    for n in 0..max {
        let r = admit(s);
        if r.status != 200 {
            assert_eq!(r.json()["error"], "QuotaExceeded", "{}", r.body);
            return n;
        }
    }
    max
}

#[test]
fn two_sidecars_share_one_quota_release_and_lease_expiry_free_slots() {
    // Proves concurrent admissions through two sidecars admit exactly the quota together,
    // that a release frees a slot for the other sidecar, and that a SIGKILLed sidecar's
    // slots come free once its lease expires.
    let Some((redis, dir)) = redis_and_dir("two_sidecars_share_one_quota") else {
        return;
    };
    let mut a = sidecar(&dir.path().join("a"), redis.port, "local");
    let b = sidecar(&dir.path().join("b"), redis.port, "local");

    let (mut admitted, mut refused) = ([0u32; 2], 0u32);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|i| {
                let s = if i % 2 == 0 { &a } else { &b };
                scope.spawn(move || {
                    let mut counts = (0u32, 0u32);
                    for _ in 0..20 {
                        let r = admit(s);
                        match r.status {
                            200 => counts.0 += 1,
                            429 => {
                                let body = r.json();
                                assert_eq!(body["error"], "QuotaExceeded", "{}", r.body);
                                assert_eq!(body["limit"], 100, "{}", r.body);
                                counts.1 += 1;
                            }
                            other => panic!("unexpected {other}: {}", r.body),
                        }
                    }
                    (i % 2, counts)
                })
            })
            .collect();
        for w in workers {
            let (side, (ok, no)) = w.join().expect("worker");
            admitted[side] += ok;
            refused += no;
        }
    });
    assert_eq!(
        admitted[0] + admitted[1],
        100,
        "{admitted:?}, {refused} refused"
    );
    assert_eq!(refused, 60);
    assert!(admitted[0] >= 2, "sidecar a admitted {}", admitted[0]);
    let usage = |s: &Sidecar| s.tenant("acme")["usage"]["requests"].as_u64();
    assert_eq!(usage(&a), Some(u64::from(admitted[0])), "a's local count");
    assert_eq!(
        usage(&b),
        Some(u64::from(admitted[1])),
        "refusals left no local units"
    );

    // A release through a frees exactly those slots for b.
    assert_eq!(release(&a, 2).status, 200);
    let r = admit(&b);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["fleet_in_use"], 99);
    assert_eq!(admit_until_refused(&b, 10), 1);

    // a dies holding its slots: they come free after its lease, not before the first
    // renewal of b sees them expired.
    let a_holds = admitted[0] - 2;
    a.kill9();
    assert_eq!(
        admit(&b).status,
        429,
        "a's slots are still leased right after its death"
    );
    let mut freed = 0;
    let came_free = wait_until(Duration::from_millis(LEASE_MS * 4), || {
        freed += admit_until_refused(&b, a_holds + 1);
        freed == a_holds
    });
    assert!(came_free, "{freed} of {a_holds} slots came free");
    assert_eq!(
        admit(&b).status,
        429,
        "the fleet holds 100 again, all through b"
    );
    assert_eq!(usage(&b), Some(100));
    assert_eq!(
        metric(&b, "autonomic_fleet_admissions_total{result=\"admitted\"}"),
        Some(u64::from(admitted[1]) + 2 + u64::from(a_holds))
    );

    // A `rate` admission is this sidecar's bucket alone: never counted in Redis.
    let rate = b.post(
        "/v1/tenants/acme/admit",
        r#"{"resource":"rate","amount":1}"#,
    );
    assert_eq!(rate.status, 200, "{}", rate.body);
    assert!(rate.json().get("fleet_in_use").is_none(), "{}", rate.body);
    assert!(rate.json()["tokens_left"].is_u64(), "{}", rate.body);
    assert_eq!(
        metric(&b, "autonomic_fleet_admissions_total{result=\"admitted\"}"),
        Some(u64::from(admitted[1]) + 2 + u64::from(a_holds)),
        "the rate admission was not counted fleet-wide"
    );
}

#[test]
fn redis_down_applies_the_policy_and_a_restarted_redis_gets_the_counts_back() {
    // Proves that with Redis dead `local` admits on the local count (metrics and /readyz
    // say so) and `refuse` answers 503 FleetUnavailable without keeping the local unit;
    // and that a Redis restarted empty on the same port gets every held count back from
    // the sidecars, which rejoin without a restart.
    let Some((mut redis, dir)) = redis_and_dir("redis_down_applies_the_policy") else {
        return;
    };
    let port = redis.port;
    let local = sidecar(&dir.path().join("local"), port, "local");
    let refuse = sidecar(&dir.path().join("refuse"), port, "refuse");
    for _ in 0..3 {
        assert_eq!(admit(&local).status, 200);
    }
    let r = admit(&refuse);
    assert_eq!(r.json()["fleet_in_use"], 4, "{}", r.body);
    let ready = local.get("/readyz").json();
    assert_eq!(ready["fleet"]["redis"], "up", "{ready}");
    assert_eq!(ready["fleet"]["on_unavailable"], "local", "{ready}");

    redis.kill9();
    let r = admit(&local);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json().get("fleet_in_use").is_none(), "{}", r.body);
    assert_eq!(local.tenant("acme")["usage"]["requests"], 4);
    assert_eq!(redis_up(&local), Some(0));
    let unavailable = "autonomic_fleet_unavailable_total{policy=\"local\"}";
    assert_eq!(metric(&local, unavailable), Some(1));
    let series = "autonomic_fleet_admissions_total{result=\"admitted_locally\"}";
    assert_eq!(metric(&local, series), Some(1));
    let ready = local.get("/readyz");
    assert_eq!(ready.status, 200, "readiness does not depend on redis");
    assert_eq!(ready.json()["fleet"]["redis"], "down", "{}", ready.body);

    let r = admit(&refuse);
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json()["error"], "FleetUnavailable", "{}", r.body);
    assert_eq!(
        refuse.tenant("acme")["usage"]["requests"],
        1,
        "the local unit was undone"
    );
    let unavailable = "autonomic_fleet_unavailable_total{policy=\"refuse\"}";
    assert_eq!(metric(&refuse, unavailable), Some(1));

    // Back, empty: both rejoin and re-assert what they hold (4 + 1).
    let _redis = Redis::start(port);
    for s in [&local, &refuse] {
        let back = wait_until(Duration::from_secs(10), || redis_up(s) == Some(1));
        assert!(back, "no rejoin: {}", s.stderr_log());
        assert_eq!(s.get("/readyz").json()["fleet"]["redis"], "up");
    }
    let counted = wait_until(Duration::from_millis(LEASE_MS * 2), || {
        let r = admit(&refuse);
        let in_use = r.json()["fleet_in_use"].as_u64();
        assert_eq!(release(&refuse, 1).status, 200);
        in_use == Some(6)
    });
    assert!(counted, "the restarted redis did not get the counts back");
}

#[test]
fn the_fleet_count_uses_a_throttled_limit_and_a_stopped_sidecar_frees_its_units() {
    // Proves the fleet's check uses the asking sidecar's effective limit: under a Throttle
    // of 50 % on one sidecar, its admissions stop when the fleet holds 50 units, though it
    // holds only 20 itself, and the refusal carries the fleet's numbers; and that a sidecar
    // stopped with SIGTERM frees its units at once.
    let Some((redis, dir)) = redis_and_dir("the_fleet_count_is_checked_against_the_limit") else {
        return;
    };
    let throttled = sidecar(&dir.path().join("t"), redis.port, "local");
    let plain = sidecar(&dir.path().join("p"), redis.port, "local");
    let r = throttled.post(
        "/v1/tenants/acme/actions",
        r#"{"kind":"throttle","percent":50}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let enforced = wait_until(Duration::from_secs(10), || {
        throttled.tenant("acme")["enforced"]["kind"] == "throttle"
    });
    assert!(
        enforced,
        "the throttle was not enforced: {}",
        throttled.stderr_log()
    );
    for _ in 0..30 {
        assert_eq!(admit(&plain).status, 200);
    }
    assert_eq!(admit_until_refused(&throttled, 60), 20);
    let refused = admit(&throttled).json();
    assert_eq!(
        (&refused["in_use"], &refused["limit"], &refused["requested"]),
        (&50.into(), &50.into(), &1.into()),
        "{refused}"
    );
    assert_eq!(throttled.tenant("acme")["usage"]["requests"], 20);

    // A graceful stop gives its units back at once, without waiting for its lease.
    let mut plain = plain;
    assert!(plain.stop().success());
    assert_eq!(admit_until_refused(&throttled, 60), 30);
}

#[test]
fn a_frozen_redis_is_unavailable_after_the_timeout_and_rejoined_when_it_thaws() {
    // Proves a Redis that accepts connections but does not answer (SIGSTOP) is treated as
    // unavailable after timeout_ms: `refuse` answers 503 FleetUnavailable instead of
    // hanging, /readyz says down; after SIGCONT the sidecar rejoins and counts again.
    let Some((redis, dir)) = redis_and_dir("a_frozen_redis_is_unavailable") else {
        return;
    };
    let s = sidecar(&dir.path().join("s"), redis.port, "refuse");
    assert_eq!(admit(&s).json()["fleet_in_use"], 1);
    let signal = |name: &str| {
        let pid = redis.child.id().to_string();
        let sent = Command::new("kill").args([name, &pid]).status();
        assert!(sent.is_ok_and(|st| st.success()), "kill {name}");
    };
    signal("-STOP");
    let r = admit(&s);
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json()["error"], "FleetUnavailable", "{}", r.body);
    assert_eq!(s.get("/readyz").json()["fleet"]["redis"], "down");
    assert_eq!(s.tenant("acme")["usage"]["requests"], 1);
    signal("-CONT");
    assert!(
        wait_until(Duration::from_secs(10), || redis_up(&s) == Some(1)),
        "no rejoin: {}",
        s.stderr_log()
    );
    let r = admit(&s);
    assert_eq!(r.json()["fleet_in_use"], 2, "{}", r.body);
}

#[test]
fn a_bad_fleet_section_is_one_line_naming_the_key() {
    // Proves `[fleet]`'s keys are validated at start like every other key: exit 2 and one
    // line naming the file and the key.
    let dir = tempfile::tempdir().expect("tempdir");
    for (section, key) in [
        ("[fleet]\n", "fleet.redis: required"),
        (
            "[fleet]\nredis = \"http://127.0.0.1\"\n",
            "fleet.redis: must be",
        ),
        (
            "[fleet]\nredis = \"redis://h\"\nlease_ms = 10\n",
            "fleet.lease_ms",
        ),
        (
            "[fleet]\nredis = \"redis://h\"\non_unavailable = \"maybe\"\n",
            "maybe",
        ),
    ] {
        let err = Sidecar::try_start(dir.path(), &config(section)).err();
        let err = err.unwrap_or_else(|| panic!("started with {section:?}"));
        assert!(err.contains("exited with exit status: 2"), "{err}");
        assert!(err.contains(key), "{section:?}: {err}");
        let line = err.split_once(": ").map_or("", |(_, log)| log).trim_end();
        assert_eq!(line.lines().count(), 1, "{err}");
    }
}

//! Shared helpers of the binary-driving tests: find (or build) the `autonomic` binary, run a
//! sidecar in a temp dir, a std-only HTTP/1.1 client, bounded polling.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The `autonomic` binary next to this test's target dir, built once per test process.
pub fn binary() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let exe = std::env::current_exe().expect("current_exe");
        // target/<profile>/deps/<test> -> target/<profile>/autonomic
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary lives in target/<profile>/deps")
            .to_path_buf();
        let bin = profile_dir.join("autonomic");
        // Build it (a no-op when fresh) so the tests never run a stale binary.
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut build = Command::new(cargo);
        build.args(["build", "-q", "-p", "autonomic-tokio", "--bin", "autonomic"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        if let Some(target) = profile_dir.parent() {
            build.env("CARGO_TARGET_DIR", target);
        }
        let built = build.status().map(|s| s.success()).unwrap_or(false);
        assert!(built || bin.exists(), "could not build {}", bin.display());
        bin
    })
    .clone()
}

/// Runs the binary with `args` and optional stdin; waits (bounded) for it to exit.
pub fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(binary())
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn autonomic");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        assert!(Instant::now() < deadline, "autonomic {args:?} did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs the binary with `args`, asserts it exits 0 (showing its stderr if not), and returns
/// its stdout.
pub fn run_ok(args: &[&str]) -> String {
    let out = run(args, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "autonomic {args:?}: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request with `Connection: close` and `Host: <addr>`; a `POST` carries
/// `Content-Type: application/json` unless `headers` name a `Content-Type` (the API refuses
/// a POST without it). The body is written on its own thread so that a response sent before
/// the whole body was read (413) is still received.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    let typed = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    if method == "POST" && !typed {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    http_raw(addr, &request)
}

/// Sends `request` as is (head and body: any headers, or none) and reads the response to
/// the connection's end.
pub fn http_raw(addr: &str, request: &[u8]) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut writer = stream.try_clone()?;
    let request = request.to_vec();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(&request);
    });
    let mut raw = Vec::new();
    let read = stream.read_to_end(&mut raw);
    let _ = sender.join();
    if raw.is_empty() {
        read?;
    }
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    }
    Ok(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// `extra` TOML plus the sampler turned off (so only the test's tenants exist).
pub fn config(extra: &str) -> String {
    format!("{extra}\n[sampler]\nenabled = false\n")
}

/// A running `autonomic run` in its own temp dir.
pub struct Sidecar {
    pub child: Option<Child>,
    pub addr: String,
    pub dir: PathBuf,
    pub data_dir: PathBuf,
    pub token: Option<String>,
}

impl Sidecar {
    /// Starts `run --config <dir>/config.toml --listen 127.0.0.1:0 --data-dir <dir>/data`
    /// and waits (bounded) for `<data_dir>/listen.addr`.
    pub fn start(dir: &Path, config_toml: &str) -> Sidecar {
        Self::try_start(dir, config_toml).unwrap_or_else(|stderr| panic!("start failed: {stderr}"))
    }

    /// Like [`Sidecar::start`]; on exit before listening, returns its stderr.
    pub fn try_start(dir: &Path, config_toml: &str) -> Result<Sidecar, String> {
        Self::try_start_wrapped(dir, config_toml, &[], true)
    }

    /// Like [`Sidecar::start`], the binary run through `wrapper` (e.g.
    /// `["prlimit", "--nofile=256:256"]`, which execs it: same pid).
    pub fn start_wrapped(dir: &Path, config_toml: &str, wrapper: &[&str]) -> Sidecar {
        Self::try_start_wrapped(dir, config_toml, wrapper, true)
            .unwrap_or_else(|stderr| panic!("start failed: {stderr}"))
    }

    /// `run --config <dir>/config.toml` alone: the file's own `listen` and `data_dir` (which
    /// must be `<dir>/data`) are in force, as for an operator without command-line overrides.
    pub fn start_plain(dir: &Path, config_toml: &str) -> Sidecar {
        Self::try_start_wrapped(dir, config_toml, &[], false)
            .unwrap_or_else(|stderr| panic!("start failed: {stderr}"))
    }

    fn try_start_wrapped(
        dir: &Path,
        config_toml: &str,
        wrapper: &[&str],
        overrides: bool,
    ) -> Result<Sidecar, String> {
        std::fs::create_dir_all(dir).expect("dir");
        let config_path = dir.join("config.toml");
        std::fs::write(&config_path, config_toml).expect("config");
        let data_dir = dir.join("data");
        let addr_file = data_dir.join("listen.addr");
        let _ = std::fs::remove_file(&addr_file);
        let stderr_path = dir.join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).expect("stderr log");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(binary());
                c
            }
            None => Command::new(binary()),
        };
        command.args(["run", "--config"]).arg(&config_path);
        if overrides {
            command
                .args(["--listen", "127.0.0.1:0", "--data-dir"])
                .arg(&data_dir);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn autonomic run");
        let mut exited = None;
        let listening = wait_until(Duration::from_secs(30), || {
            if let Ok(Some(status)) = child.try_wait() {
                exited = Some(status);
                return true;
            }
            std::fs::read_to_string(&addr_file).is_ok_and(|s| s.ends_with('\n'))
        });
        let log = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
        if let Some(status) = exited {
            return Err(format!("exited with {status}: {}", log()));
        }
        if !listening {
            let _ = child.kill();
            return Err(format!("did not listen in time: {}", log()));
        }
        let addr = std::fs::read_to_string(&addr_file)
            .expect("listen.addr")
            .trim()
            .to_owned();
        let token = config_toml
            .lines()
            .find_map(|l| l.trim().strip_prefix("token = "))
            .map(|t| t.trim_matches('"').to_owned());
        Ok(Sidecar {
            child: Some(child),
            addr,
            dir: dir.to_path_buf(),
            data_dir,
            token,
        })
    }

    pub fn stderr_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    pub fn get(&self, path: &str) -> Response {
        http(&self.addr, "GET", path, &[], b"").expect("GET")
    }

    /// POSTs with the configured token (if any).
    pub fn post(&self, path: &str, body: &str) -> Response {
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        http(&self.addr, "POST", path, &headers, body.as_bytes()).expect("POST")
    }

    /// POSTs one signal and returns its result object.
    pub fn signal(&self, tenant: &str, value: f64, ts_ms: u64) -> Value {
        let body =
            format!(r#"{{"tenant":"{tenant}","metric":"cpu","value":{value},"ts_ms":{ts_ms}}}"#);
        let r = self.post("/v1/signals", &body);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()[0].clone()
    }

    /// The newest 1000 receipts (`GET /v1/ledger?tail=1000`), asserting a 200.
    pub fn ledger(&self) -> Vec<Value> {
        let r = self.get("/v1/ledger?tail=1000");
        assert_eq!(r.status, 200, "{}", r.body);
        r.json().as_array().cloned().unwrap_or_default()
    }

    pub fn tenant(&self, id: &str) -> Value {
        let r = self.get(&format!("/v1/tenants/{id}"));
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("sidecar did not stop after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, no cleanup.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Frames of `ledger.log`: (offset, body length) of each record.
pub fn frames(path: &Path) -> Vec<(usize, usize)> {
    let bytes = std::fs::read(path).expect("ledger.log");
    let mut out = Vec::new();
    let mut at = 32; // the file header (docs/ledger-format.md)
    while at + 8 <= bytes.len() {
        let word = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let (kind, len) = (word >> 24, (word & 0x00FF_FFFF) as usize);
        if at + 8 + len > bytes.len() {
            break;
        }
        if kind == 1 {
            out.push((at, len));
        }
        at += 8 + len;
    }
    out
}

/// A one-thread HTTP server on 127.0.0.1 recording each request's body.
pub fn webhook_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&bodies);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok() {
                seen.lock()
                    .expect("lock")
                    .push(String::from_utf8_lossy(&body).into_owned());
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (addr, bodies)
}

/// Where skipped tests are listed for `.ci/run` to print after the test step (cargo test
/// hides a passing test's stderr, so an `eprintln!` alone is not loud enough).
pub const SKIPPED_FILE: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/skipped-tests.txt");

/// Says loudly that (part of) a test could not run here: on stderr, and in [`SKIPPED_FILE`].
pub fn skipped(line: &str) {
    eprintln!("{line}");
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(SKIPPED_FILE)
        .and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = appended {
        eprintln!("(could not list it in {SKIPPED_FILE}: {e})");
    }
}

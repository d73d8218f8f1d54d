//! The Kubernetes manifests of `deploy/kubernetes/`, offline: each validates against the
//! Kubernetes schemas `kubernetes-validate` ships (strict: an unknown field is an error), the
//! PodMonitor against the schema in `deploy/kubernetes/schemas/` (`check-crds.py`), the
//! config the pod's init container renders from the ConfigMap and the Secret starts the real
//! sidecar, and the pod agrees with the image (`deploy/Containerfile`) and the config.

mod cli_support;
mod deploy_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use cli_support::Sidecar;
use deploy_support::{deploy_files, output, program_or_skip, repo_root, text};
use serde_json::Value;

/// How to get the validator (CI's `.ci/run` does this); it brings PyYAML and jsonschema,
/// which the other checks here use through `python3`.
const INSTALL: &str = "pip install kubernetes-validate";

/// Every manifest, sorted.
fn manifests() -> Vec<PathBuf> {
    deploy_files("kubernetes", "yaml")
}

/// The YAML documents of every manifest, as JSON (parsed by PyYAML, once per test
/// process), each with its file.
fn documents() -> &'static [(PathBuf, Value)] {
    static DOCUMENTS: OnceLock<Vec<(PathBuf, Value)>> = OnceLock::new();
    DOCUMENTS.get_or_init(|| {
        let script = "import json, sys, yaml\n\
                      json.dump([[p, d] for p in sys.argv[1:]\n\
                                 for d in yaml.safe_load_all(open(p)) if d], sys.stdout)\n";
        let out = output(
            Command::new("python3")
                .args(["-c", script])
                .args(manifests()),
        );
        assert!(out.status.success(), "{}", text(&out));
        let docs: Vec<(PathBuf, Value)> = serde_json::from_slice(&out.stdout).expect("JSON");
        docs
    })
}

/// The one document of kind `kind` among the manifests.
fn manifest(kind: &str) -> Value {
    let mut found = documents().iter().filter(|(_, d)| d["kind"] == kind);
    let (_, one) = found.next().unwrap_or_else(|| panic!("no {kind}"));
    assert!(found.next().is_none(), "two of {kind}");
    one.clone()
}

/// `kubernetes-validate --strict` on `path`.
fn kubernetes_validate(validator: &Path, path: &Path) -> (bool, String) {
    let out = output(Command::new(validator).arg("--strict").arg(path));
    (out.status.success(), text(&out))
}

/// `check-crds.py` on `path`.
fn check_crds(path: &Path) -> (bool, String) {
    let script = repo_root().join("deploy/kubernetes/check-crds.py");
    let out = output(Command::new("python3").arg(script).arg(path));
    (out.status.success(), text(&out))
}

#[test]
fn every_manifest_validates_offline() {
    // Proves each manifest is one `kubectl apply` would accept as written: every built-in
    // kind against its schema with no unknown field, every custom one against ours.
    let Some(validator) = program_or_skip("kubernetes-validate", "deploy_kubernetes.rs", INSTALL)
    else {
        return;
    };
    // One run for all the files (each start loads the schemas); a line per document.
    let files = manifests();
    let out = output(Command::new(&validator).arg("--strict").args(&files));
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("ERROR"), "{said}");
    let mut custom = Vec::new();
    for path in &files {
        let name = path.display().to_string();
        let lines: Vec<&str> = said.lines().filter(|l| l.contains(&name)).collect();
        assert!(!lines.is_empty(), "{name}: nothing said\n{said}");
        for line in lines {
            if line.starts_with("WARN") {
                // A kind it has no schema for: one of ours must cover it.
                assert!(line.contains("Couldn't find schema"), "{line}");
                custom.push(path.clone());
            } else {
                assert!(
                    line.starts_with("INFO") && line.contains("passed"),
                    "{line}"
                );
            }
        }
    }
    assert_eq!(custom.len(), 1, "{said}");
    let (ok, said) = check_crds(&custom[0]);
    assert!(ok && said.contains("passed"), "{said}");
    let mut kinds = Vec::new();
    for (_, doc) in documents() {
        kinds.push(doc["kind"].as_str().expect("kind").to_owned());
    }
    kinds.sort();
    let expected = [
        "ConfigMap",
        "PodMonitor",
        "Secret",
        "Service",
        "StatefulSet",
    ];
    assert_eq!(kinds, expected);
}

#[test]
fn a_misspelt_field_is_refused_by_both_validators() {
    // Proves the validation above can fail: a misspelt field in the pod spec and in the
    // PodMonitor's endpoint are errors, not warnings.
    let Some(validator) = program_or_skip("kubernetes-validate", "deploy_kubernetes.rs", INSTALL)
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let kube = repo_root().join("deploy/kubernetes");
    let cases: [(&str, &str, &str); 2] = [
        ("statefulset.yaml", "readinessProbe:", "readynessProbe"),
        ("podmonitor.yaml", "interval: 15s", "intervall"),
    ];
    for (file, good, misspelt) in cases {
        let bad = good.replacen(good.split(':').next().expect("field"), misspelt, 1);
        let original = std::fs::read_to_string(kube.join(file)).expect("manifest");
        assert!(original.contains(good), "{file}");
        let broken = dir.path().join(file);
        std::fs::write(&broken, original.replace(good, &bad)).expect("write");
        let (ok, said) = if file == "podmonitor.yaml" {
            check_crds(&broken)
        } else {
            kubernetes_validate(&validator, &broken)
        };
        assert!(!ok, "{file} with {bad} passed:\n{said}");
        assert!(said.contains(misspelt), "{said}");
    }
}

/// The init container of the StatefulSet's pod.
fn init_container() -> Value {
    let statefulset = manifest("StatefulSet");
    let init = &statefulset["spec"]["template"]["spec"]["initContainers"][0];
    assert_eq!(init["name"], "config");
    init.clone()
}

/// Runs the init container's script as the pod would, with `token` from the Secret, the
/// ConfigMap's file at `config_in` and the output at `config_out`; returns whether it
/// succeeded and what it said.
fn render_config(token: &str, config_in: &Path, config_out: &Path) -> (bool, String) {
    let init = init_container();
    let command: Vec<&str> = init["command"]
        .as_array()
        .expect("command")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(command, ["/bin/sh", "-c"]);
    let script = init["args"][0].as_str().expect("script");
    let out = output(
        Command::new("sh")
            .args(["-c", script])
            .env("AUTONOMIC_TOKEN", token)
            .env("CONFIG_IN", config_in)
            .env("CONFIG_OUT", config_out),
    );
    (out.status.success(), text(&out))
}

#[test]
fn the_config_the_init_container_renders_starts_the_sidecar() {
    // Proves the pod's config works: the ConfigMap's TOML with the Secret's token in front,
    // as the init container writes it, is accepted by the real sidecar, which then refuses a
    // POST without the token and accepts one with it; a token that would break the TOML is
    // refused before anything is written.
    if program_or_skip("kubernetes-validate", "deploy_kubernetes.rs", INSTALL).is_none() {
        return;
    }
    let config = manifest("ConfigMap");
    let toml = config["data"]["autonomic.toml"]
        .as_str()
        .expect("autonomic.toml");
    let secret = manifest("Secret");
    let token = secret["stringData"]["token"].as_str().expect("token");
    let dir = tempfile::tempdir().expect("tempdir");
    let config_in = dir.path().join("configmap.toml");
    std::fs::write(&config_in, toml).expect("write");

    let refused = dir.path().join("refused.toml");
    let (ok, said) = render_config("bad\"token", &config_in, &refused);
    assert!(
        !ok && said.contains("autonomic-token: the token must be"),
        "{said}"
    );
    assert!(!refused.exists());

    let rendered = dir.path().join("autonomic.toml");
    let (ok, said) = render_config(token, &config_in, &rendered);
    assert!(ok, "{said}");
    let config_toml = std::fs::read_to_string(&rendered).expect("rendered");
    assert!(
        config_toml.starts_with(&format!("token = \"{token}\"\n")),
        "{config_toml}"
    );
    // Its own listen and data dir (the pod's are 0.0.0.0:7411 and the volume) are replaced
    // on the command line by 127.0.0.1:0 and a temp dir.
    let sidecar = Sidecar::start(&dir.path().join("sidecar"), &config_toml);
    assert_eq!(sidecar.get("/readyz").status, 200);
    let signal = format!(
        r#"{{"tenant":"acme","metric":"cpu","value":50,"ts_ms":{}}}"#,
        cli_support::now_ms()
    );
    let anonymous = cli_support::http(&sidecar.addr, "POST", "/v1/signals", &[], signal.as_bytes())
        .expect("POST");
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    let with_token = sidecar.post("/v1/signals", &signal);
    assert_eq!(with_token.status, 200, "{}", with_token.body);
    // The ConfigMap's sampler tenant and its [[tenants]] entry exist.
    for tenant in ["workload", "acme"] {
        assert_eq!(sidecar.tenant(tenant)["entitlement"], "Active", "{tenant}");
    }
}

/// The value of a `KEY = "value"` line of the TOML (the first one).
fn toml_string(toml: &str, key: &str) -> String {
    let prefix = format!("{key} = \"");
    let line = toml.lines().find_map(|l| l.strip_prefix(&prefix));
    line.and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no {key} in {toml}"))
        .to_owned()
}

#[test]
fn the_pod_agrees_with_the_image_and_the_config() {
    // Proves the pieces fit: the sidecar runs the binary the image installs, as the user the
    // image's data dir belongs to, reads the file the init container writes, keeps the ledger
    // on the claim, listens on the port the probes and the PodMonitor use.
    if program_or_skip("kubernetes-validate", "deploy_kubernetes.rs", INSTALL).is_none() {
        return;
    }
    let containerfile =
        std::fs::read_to_string(repo_root().join("deploy/Containerfile")).expect("Containerfile");
    let statefulset = manifest("StatefulSet");
    let pod = &statefulset["spec"]["template"]["spec"];
    let sidecar = &pod["containers"][1];
    assert_eq!(sidecar["name"], "autonomic");
    let command = sidecar["command"].as_array().expect("command");
    let binary = command[0].as_str().expect("binary");
    assert!(containerfile.contains(&format!("COPY --from=build /out/autonomic {binary}\n")));
    let user = pod["securityContext"]["runAsUser"].as_u64().expect("uid");
    assert!(
        containerfile.contains(&format!("USER {user}:{user}\n")),
        "{containerfile}"
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);

    let init_out = init_container()["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|e| e["name"] == "CONFIG_OUT")
        .expect("CONFIG_OUT")["value"]
        .clone();
    assert_eq!(command[2], "--config");
    assert_eq!(command[3], init_out);

    let config = manifest("ConfigMap");
    let toml = config["data"]["autonomic.toml"].as_str().expect("toml");
    let data_dir = toml_string(toml, "data_dir");
    let mounts = sidecar["volumeMounts"].as_array().expect("mounts");
    let ledger = mounts
        .iter()
        .find(|m| m["name"] == "ledger")
        .expect("ledger");
    assert_eq!(ledger["mountPath"], data_dir.as_str());
    assert!(containerfile.contains(&format!("-g {user} -m 0750 {data_dir}\n")));
    let claim = &statefulset["spec"]["volumeClaimTemplates"][0];
    assert_eq!(claim["metadata"]["name"], "ledger");
    assert_eq!(sidecar["securityContext"]["readOnlyRootFilesystem"], true);

    let listen = toml_string(toml, "listen");
    let port = sidecar["ports"][0]["containerPort"].as_u64().expect("port");
    assert_eq!(listen, format!("0.0.0.0:{port}"));
    let port_name = sidecar["ports"][0]["name"].as_str().expect("port name");
    for (probe, path) in [
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ] {
        assert_eq!(sidecar[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(sidecar[probe]["httpGet"]["port"], port_name, "{probe}");
    }
    let monitor = manifest("PodMonitor");
    let endpoint = &monitor["spec"]["podMetricsEndpoints"][0];
    assert_eq!(endpoint["port"], port_name);
    assert_eq!(endpoint["path"], "/metrics");
    let selector = &monitor["spec"]["selector"]["matchLabels"];
    assert_eq!(
        &statefulset["spec"]["template"]["metadata"]["labels"],
        selector
    );
}

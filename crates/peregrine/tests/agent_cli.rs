//! Agent flags that need no kernel: `--support`, `--disable-source`.

mod common;

use common::{peregrine, stderr, stdout, upstream};
use serde_json::Value;

#[test]
fn support_reports_versions_system_config_and_rules_contents() {
    if peregrine_testkit::upstream::require(
        "support_reports_versions_system_config_and_rules_contents",
    )
    .is_none()
    {
        return;
    }
    let dir = std::env::temp_dir().join(format!("peregrine-agent-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("falco.yaml");
    std::fs::write(&config, "json_output: true\n").expect("config");
    let rules = upstream().join("falco-testing/rules/single_rule.yaml");
    let out = peregrine([
        "--support".as_ref(),
        "-c".as_ref(),
        config.as_os_str(),
        "-r".as_ref(),
        rules.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["engine_info"]["engine_version"].is_string(), "{v}");
    assert_eq!(v["system_info"]["sysname"], "Linux");
    assert!(v["system_info"]["release"]
        .as_str()
        .is_some_and(|r| !r.is_empty()));
    assert_eq!(v["config"], "json_output: true\n");
    let files = v["rules_files"].as_array().expect("rules_files");
    assert_eq!(files.len(), 1);
    assert_eq!(
        files[0]["content"].as_str(),
        std::fs::read_to_string(&rules).ok().as_deref()
    );
    assert!(v["cmdline"]
        .as_str()
        .is_some_and(|c| c.contains("--support")));
}

#[test]
fn disable_source_accepts_only_syscall_and_cannot_disable_everything() {
    // (args, exit code, stderr must contain)
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["--disable-source", "k8s_audit", "-L"],
            1,
            "unknown event source: k8s_audit",
        ),
        (&["--disable-source", "syscall", "-L"], 0, ""),
        (
            &["--disable-source", "syscall"],
            1,
            "Must enable at least one event source",
        ),
    ];
    for (args, code, err) in cases {
        let out = peregrine(*args);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(err), "{args:?}: {}", stderr(&out));
    }
}

/// Issue #11: `webserver.ssl_enabled` with a certificate that cannot be loaded stops the
/// agent before capture, naming the file, instead of serving plain HTTP. The server starts
/// before the capture attaches, so no kernel is needed; `-M 2` bounds a regression that
/// would go on to capture.
#[test]
fn an_unusable_tls_certificate_stops_the_agent_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("peregrine-agent-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("falco.yaml");
    std::fs::write(
        &config,
        "webserver: {enabled: true, listen_address: 127.0.0.1, listen_port: 0}\n\
         syslog_output: {enabled: false}\n",
    )
    .expect("config");
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        "- rule: r\n  desc: d\n  condition: evt.type = openat\n  output: o\n  priority: INFO\n",
    )
    .expect("rules");
    let missing = dir.join("no-such-falco.pem");
    let out = peregrine([
        "-c".as_ref(),
        config.as_os_str(),
        "-r".as_ref(),
        rules.as_os_str(),
        "-M".as_ref(),
        "2".as_ref(),
        "-o".as_ref(),
        "webserver.ssl_enabled=true".as_ref(),
        "-o".as_ref(),
        format!("webserver.ssl_certificate={}", missing.display()).as_ref(),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(err.contains("webserver.ssl_certificate"), "{err}");
    assert!(!err.contains("listening on"), "{err}");
}

/// Plain HTTP on every interface (Falco's default address) logs one warning saying how to
/// restrict it; loopback does not. The server starts before the capture, so the line shows
/// whether or not the capture can attach afterwards (`-M 1` ends the run if it does).
#[test]
fn plain_http_on_every_interface_warns_once() {
    let dir = std::env::temp_dir().join(format!("peregrine-agent-warn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        "- rule: r\n  desc: d\n  condition: evt.type = openat\n  output: o\n  priority: INFO\n",
    )
    .expect("rules");
    let warnings = |address: &str| {
        let config = dir.join(format!("falco-{address}.yaml"));
        std::fs::write(
            &config,
            format!(
                "webserver: {{enabled: true, listen_address: \"{address}\", listen_port: 0}}\n\
                 syslog_output: {{enabled: false}}\n"
            ),
        )
        .expect("config");
        let out = peregrine([
            "-c".as_ref(),
            config.as_os_str(),
            "-r".as_ref(),
            rules.as_os_str(),
            "-M".as_ref(),
            "1".as_ref(),
        ]);
        stderr(&out)
            .lines()
            .filter(|l| l.contains("unauthenticated"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let wide = warnings("0.0.0.0");
    assert_eq!(wide.len(), 1, "{wide:?}");
    assert!(wide[0].contains("webserver.listen_address"), "{wide:?}");
    assert_eq!(warnings("127.0.0.1"), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every `Error:` line says each cause once (library errors often repeat their source).
fn assert_causes_once(err: &str) {
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("Error: ")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    let parts: Vec<&str> = lines[0]["Error: ".len()..].split(": ").collect();
    for (i, p) in parts.iter().enumerate() {
        assert!(
            !parts[i + 1..].contains(p),
            "'{p}' said twice: {}",
            lines[0]
        );
        assert!(
            !parts[i + 1..]
                .iter()
                .any(|later| later.contains(p) && p.len() > 8),
            "'{p}' repeated: {}",
            lines[0]
        );
    }
}

#[test]
fn an_error_prints_each_cause_once() {
    let dir = std::env::temp_dir().join(format!("peregrine-agent-cli-err-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let missing = dir.join("no-such-rules.yaml");
    for args in [
        vec!["-c".to_string(), dir.display().to_string()],
        vec!["-r".to_string(), missing.display().to_string()],
    ] {
        let out = peregrine(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        assert_causes_once(&err);
    }
}

/// Run as `nobody` (no root, no capabilities): one clear error saying what the capture needs,
/// and none of libbpf's own messages (RLIMIT_MEMLOCK, CONFIG_BPF_SYSCALL) on stderr.
#[test]
fn without_root_one_clear_message_and_no_libbpf_noise() {
    // Root is needed to drop to another user; the live tier has it.
    if !peregrine_testkit::live("without_root_one_clear_message_and_no_libbpf_noise") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("peregrine-unpriv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let world = |p: &std::path::Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    world(&dir, 0o755);
    // Copies nobody can read: the build tree may not be.
    let bin = dir.join("peregrine");
    std::fs::copy(env!("CARGO_BIN_EXE_peregrine"), &bin).expect("copy the binary");
    world(&bin, 0o755);
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        "- rule: r\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: NOTICE\n",
    )
    .expect("rules");
    world(&rules, 0o644);
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["-r".as_ref(), rules.as_os_str()])
        .args(["-o", "syslog_output.enabled=false"])
        .env(peregrine_config::DEFAULT_CONFIG_ENV, "")
        .env_remove("PEREGRINE_LOG")
        .current_dir(&dir)
        .output()
        .expect("setpriv runs");
    let _ = std::fs::remove_dir_all(&dir);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert_causes_once(&err);
    assert!(
        err.contains("needs root, or the capabilities CAP_BPF and CAP_PERFMON"),
        "{err}"
    );
    assert!(!err.contains("libbpf"), "libbpf noise: {err}");
}

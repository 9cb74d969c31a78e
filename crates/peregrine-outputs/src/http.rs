//! `http_output`: POST each alert to a URL (Falcosidekick, a SIEM collector, a webhook).
//!
//! Key decision: `ureq` 2 over `rustls` with the `ring` provider. It is a small blocking
//! client — each sink already owns a worker thread, so an async runtime (hyper/reqwest)
//! would add a scheduler and dozens of crates for nothing — and rustls builds from source
//! here with no system OpenSSL, while giving the TLS knobs Falco exposes through libcurl:
//! `insecure`, `ca_cert`/`ca_bundle`/`ca_path`, and client certificates for mTLS.
//!
//! Delivery follows Falco's libcurl setup: `Content-Type: application/json` for JSON lines
//! (text/plain otherwise), the configured User-Agent, connections reused between alerts,
//! `ca_cert` else `ca_bundle` else `ca_path` (+ the system bundle) as trust anchors, `echo`
//! copies the response body to stdout. Falco's `compress_uploads` only asks libcurl for a
//! compressed *response* transfer encoding and leaves the body as is, so a Falcosidekick
//! behind it gets plain JSON; we keep the body plain too and offer a real gzip body
//! (`Content-Encoding: gzip`) as the opt-in extension `gzip_body`. Falco's `keep_alive`
//! (TCP keepalive on a reused connection) needs no action: connections are always reused.
//!
//! Departure: Falco retries only timeouts and ignores the HTTP status. We retry transport
//! errors, 429 and 5xx with exponential backoff (`max_consecutive_timeouts` retries) and
//! count any other non-2xx status as a failed delivery, so the metrics tell the truth.

use crate::output::{Output, OutputError};
use peregrine_filter::priority::Priority;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The system CA bundle on Debian-family hosts, used when no `ca_cert`/`ca_bundle` is given
/// (libcurl's behaviour with its default CA file).
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Upper bound of one backoff sleep.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The `http_output` keys (Falco's defaults) plus delivery tuning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    pub url: String,
    pub user_agent: String,
    pub insecure: bool,
    pub ca_cert: String,
    pub ca_bundle: String,
    pub ca_path: String,
    pub mtls: bool,
    pub client_cert: String,
    pub client_key: String,
    pub compress_uploads: bool,
    /// Extension: gzip the body and say so with `Content-Encoding: gzip`.
    pub gzip_body: bool,
    pub keep_alive: bool,
    pub echo: bool,
    /// True when the lines are JSON (`json_output`): selects the Content-Type.
    pub json: bool,
    /// Retries after the first attempt (Falco's `max_consecutive_timeouts`).
    pub max_retries: u32,
    /// First backoff sleep; doubles per retry.
    pub backoff: Duration,
    /// Whole-request timeout.
    pub timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            url: String::new(),
            user_agent: "falcosecurity/falco".into(),
            insecure: false,
            ca_cert: String::new(),
            ca_bundle: String::new(),
            ca_path: "/etc/falco/certs/".into(),
            mtls: false,
            client_cert: "/etc/falco/certs/client/client.crt".into(),
            client_key: "/etc/falco/certs/client/client.key".into(),
            compress_uploads: false,
            gzip_body: false,
            keep_alive: false,
            echo: false,
            json: false,
            max_retries: 5,
            backoff: Duration::from_millis(100),
            timeout: Duration::from_secs(10),
        }
    }
}

pub struct HttpOutput {
    cfg: HttpConfig,
    agent: ureq::Agent,
    echo: Box<dyn Write + Send>,
}

impl HttpOutput {
    /// Validates the configuration and loads certificates (errors name the file).
    pub fn new(cfg: HttpConfig) -> Result<HttpOutput, OutputError> {
        Self::with_echo(cfg, Box::new(std::io::stdout()))
    }

    /// Like [`HttpOutput::new`], printing `echo` responses to `echo`.
    pub fn with_echo(
        cfg: HttpConfig,
        echo: Box<dyn Write + Send>,
    ) -> Result<HttpOutput, OutputError> {
        let mut cfg = cfg;
        cfg.url = unquote(&cfg.url).to_string();
        if cfg.url.is_empty() {
            return Err(OutputError::Config {
                key: "http_output.url".into(),
                reason: "the URL is empty".into(),
            });
        }
        let mut builder = ureq::AgentBuilder::new()
            .timeout(cfg.timeout)
            .user_agent(&cfg.user_agent)
            .redirects(0);
        if cfg.url.starts_with("https://") {
            builder = builder.tls_config(Arc::new(tls_config(&cfg)?));
        }
        Ok(HttpOutput {
            agent: builder.build(),
            cfg,
            echo,
        })
    }

    fn post_once(&mut self, body: &[u8]) -> Result<(), (bool, String)> {
        let mut req = self.agent.post(&self.cfg.url).set(
            "Content-Type",
            if self.cfg.json {
                "application/json"
            } else {
                "text/plain"
            },
        );
        if self.cfg.gzip_body {
            req = req.set("Content-Encoding", "gzip");
        }
        match req.send_bytes(body) {
            Ok(resp) => {
                if self.cfg.echo {
                    let mut text = Vec::new();
                    let _ = resp.into_reader().take(1 << 20).read_to_end(&mut text);
                    let _ = self.echo.write_all(&text);
                    let _ = self.echo.flush();
                }
                Ok(())
            }
            Err(ureq::Error::Status(code, _)) => {
                Err((code == 429 || code >= 500, format!("HTTP status {code}")))
            }
            Err(ureq::Error::Transport(t)) => Err((true, t.to_string())),
        }
    }
}

impl Output for HttpOutput {
    fn name(&self) -> &str {
        "http"
    }

    fn write(&mut self, line: &str, _priority: Priority) -> Result<(), OutputError> {
        let body = if self.cfg.gzip_body {
            gzip(line.as_bytes()).map_err(|e| OutputError::io("http", "compress", e))?
        } else {
            line.as_bytes().to_vec()
        };
        let mut sleep = self.cfg.backoff;
        let mut attempt = 0;
        loop {
            match self.post_once(&body) {
                Ok(()) => return Ok(()),
                Err((retryable, reason)) => {
                    if !retryable || attempt >= self.cfg.max_retries {
                        // ureq's message starts with the URL, which the error names already.
                        let url = &self.cfg.url;
                        let reason = reason
                            .strip_prefix(url.as_str())
                            .and_then(|r| r.strip_prefix(": "))
                            .unwrap_or(&reason);
                        return Err(OutputError::Http {
                            url: url.clone(),
                            reason: format!("{reason} (after {} attempts)", attempt + 1),
                        });
                    }
                }
            }
            std::thread::sleep(sleep);
            sleep = (sleep * 2).min(MAX_BACKOFF);
            attempt += 1;
        }
    }
}

/// Falco strips one pair of surrounding quotes from the URL (YAML users quote it twice).
fn unquote(url: &str) -> &str {
    let b = url.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        &url[1..url.len() - 1]
    } else {
        url
    }
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data)?;
    enc.finish()
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client configuration for `cfg`: trust anchors from `ca_cert`, else
/// `ca_bundle`, else the system bundle plus the PEM files of `ca_path`; none at all with
/// `insecure`; the client certificate with `mtls`.
pub fn tls_config(cfg: &HttpConfig) -> Result<ClientConfig, OutputError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| OutputError::Tls(e.to_string()))?;
    let builder = if cfg.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        if !cfg.ca_cert.is_empty() {
            add_pem_file(&mut roots, Path::new(&cfg.ca_cert), true)?;
        } else if !cfg.ca_bundle.is_empty() {
            add_pem_file(&mut roots, Path::new(&cfg.ca_bundle), true)?;
        } else {
            add_pem_file(&mut roots, Path::new(SYSTEM_CA_BUNDLE), false)?;
        }
        // A missing or unreadable ca_path is not an error: Falco's default points to a
        // directory most hosts do not have.
        let dir = (cfg.ca_cert.is_empty() && cfg.ca_bundle.is_empty())
            .then(|| std::fs::read_dir(&cfg.ca_path).ok())
            .flatten();
        if let Some(dir) = dir {
            let mut paths: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
            paths.sort();
            for p in paths.iter().filter(|p| p.is_file()) {
                add_pem_file(&mut roots, p, false)?;
            }
        }
        builder.with_root_certificates(roots)
    };
    if cfg.mtls {
        let certs = CertificateDer::pem_file_iter(&cfg.client_cert)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| OutputError::Tls(format!("client_cert {}: {e}", cfg.client_cert)))?;
        let key = PrivateKeyDer::from_pem_file(&cfg.client_key)
            .map_err(|e| OutputError::Tls(format!("client_key {}: {e}", cfg.client_key)))?;
        builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| OutputError::Tls(format!("client certificate: {e}")))
    } else {
        Ok(builder.with_no_client_auth())
    }
}

/// Adds the certificates of a PEM file; with `required`, a missing file or a file without
/// certificates is an error.
fn add_pem_file(roots: &mut RootCertStore, path: &Path, required: bool) -> Result<(), OutputError> {
    let certs = match CertificateDer::pem_file_iter(path) {
        Ok(it) => it.filter_map(Result::ok).collect::<Vec<_>>(),
        Err(e) if required => {
            return Err(OutputError::Tls(format!("{}: {e}", path.display())));
        }
        Err(_) => return Ok(()),
    };
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if required && added == 0 {
        return Err(OutputError::Tls(format!(
            "{}: no usable certificate",
            path.display()
        )));
    }
    Ok(())
}

/// `insecure: true`: any server certificate is accepted (libcurl's VERIFYPEER/VERIFYHOST
/// off); handshake signatures are still checked so the session keys are the server's.
#[derive(Debug)]
struct AcceptAnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

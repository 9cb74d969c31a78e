//! HTTP requests to the agent's web server: the real server (hyper, the routes, the health
//! path, limits and timeouts) on a loopback port, each input sent as the bytes of one
//! connection. The server must answer or close, never hang or crash.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

fn server() -> SocketAddr {
    static SERVER: OnceLock<(peregrine_web::WebServer, SocketAddr)> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let cfg = peregrine_config::WebConfig {
                listen_address: "127.0.0.1".into(),
                listen_port: 0,
                prometheus_metrics_enabled: true,
                ..peregrine_config::WebConfig::default()
            };
            let metrics: std::sync::Arc<dyn peregrine_web::Collect> = std::sync::Arc::new(
                std::sync::Mutex::new(peregrine_web::MetricsSnapshot::default()),
            );
            let versions =
                peregrine_web::Versions::peregrine(&peregrine_rules::version::ENGINE_VERSION);
            let srv = peregrine_web::WebServer::start(&cfg, &versions, Some(metrics))
                .expect("the fuzz server starts");
            let addr = srv.local_addr();
            (srv, addr)
        })
        .1
}

fn main() {
    let addr = server();
    afl::fuzz!(|data: &[u8]| {
        let Ok(mut conn) = TcpStream::connect(addr) else {
            return;
        };
        let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = conn.write_all(data);
        let _ = conn.shutdown(std::net::Shutdown::Write);
        let mut answer = Vec::new();
        let _ = (&mut conn).take(1 << 20).read_to_end(&mut answer);
    });
}

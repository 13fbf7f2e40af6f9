//! [`TlsRelay`]: a TLS-terminating relay on `127.0.0.1` in front of a plain TCP service (the
//! local Redis, so `rediss://` is tested end to end). Its certificate (`localhost`,
//! `127.0.0.1`, a day long) is made at start with the `openssl` command line into a temporary
//! directory: no certificate is checked in and no second crypto provider is built (the server
//! side is rustls on ring, like every client of the platform).

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// A running relay. Dropping it stops accepting (open connections end with their peers).
pub struct TlsRelay {
    /// The port it listens on (`127.0.0.1`).
    pub port: u16,
    /// The certificate it presents, PEM: the one root a client must trust.
    pub cert_pem: Vec<u8>,
    handshakes: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for TlsRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const OPENSSL_CONFIG: &str = "[req]\ndistinguished_name = dn\nx509_extensions = v3\nprompt = no\n\
[dn]\nCN = localhost\n\
[v3]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n\
extendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost, IP:127.0.0.1\n";

/// A self-signed P-256 certificate and its key (PEM), from the `openssl` command line.
fn certificate() -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let dir = tempfile::tempdir()?;
    let (config, cert, key) = (
        dir.path().join("openssl.cnf"),
        dir.path().join("cert.pem"),
        dir.path().join("key.pem"),
    );
    std::fs::write(&config, OPENSSL_CONFIG)?;
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .arg("ec_paramgen_curve:prime256v1")
        .args(["-nodes", "-days", "1", "-config"])
        .arg(&config)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "openssl req failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok((std::fs::read(cert)?, std::fs::read(key)?))
}

impl TlsRelay {
    /// Relay TLS on a new port to `target` (`host:port`, plain TCP).
    pub async fn start(target: &str) -> std::io::Result<TlsRelay> {
        crate::init_crypto();
        let (cert_pem, key_pem) = certificate()?;
        let certs = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(std::io::Error::other)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(std::io::Error::other)?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(std::io::Error::other)?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let done = handshakes.clone();
        let target = target.to_string();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((inbound, _)) = listener.accept().await {
                let (acceptor, target, done) = (acceptor.clone(), target.clone(), done.clone());
                conns.spawn(async move {
                    let Ok(mut tls) = acceptor.accept(inbound).await else {
                        return;
                    };
                    done.fetch_add(1, Ordering::SeqCst);
                    if let Ok(mut out) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut out).await;
                    }
                });
            }
        });
        Ok(TlsRelay {
            port,
            cert_pem,
            handshakes,
            task,
        })
    }

    /// How many TLS handshakes completed.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

//! TLS for [`PostgresSink`](super::PostgresSink): a rustls client configuration (crypto from
//! `ring`, as the Redis and RabbitMQ connectors) handed to `tokio-postgres-rustls`.
//!
//! The server's certificate is always verified, chain and name (libpq's `sslmode=verify-full`):
//! against the system's trust store ([`PostgresTls::native_roots`]) or against the CA
//! certificates the caller trusts ([`PostgresTls::from_ca_pem`]), and the name checked is the
//! host the configuration connects to (an IP address is checked against the certificate's IP
//! addresses). There is no "encrypt but trust anyone" mode: libpq's `sslmode=require` without
//! verification protects against a passive listener only, and a sink that writes a company's
//! tables should not send its password to whoever answers.

use super::sink::PostgresError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use std::fmt;
use std::sync::Arc;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How a [`PostgresSink`](super::PostgresSink) speaks TLS: which certificate authorities it
/// trusts (feature `postgres`). Cheap to clone. Give it to
/// [`PostgresSink::connect_tls`](super::PostgresSink::connect_tls) or
/// [`with_config_tls`](super::PostgresSink::with_config_tls); with one, the connection is
/// TLS or nothing (`sslmode=prefer`, the default, is raised to `require`, so a server, or a
/// man in the middle, that declines TLS gets no login).
///
/// The server's certificate chain and name are always verified (libpq's `verify-full`). For
/// client certificates or other rustls settings, build a [`rustls::ClientConfig`] and use
/// [`from_rustls`](Self::from_rustls).
///
/// ```
/// use mqsync::sync::PostgresTls;
///
/// // A private CA (PEM, as `openssl` writes it): not a certificate, so refused.
/// let err = PostgresTls::from_ca_pem(b"not a certificate").unwrap_err();
/// assert!(err.to_string().contains("no certificate"));
/// ```
#[derive(Clone)]
pub struct PostgresTls {
    /// The client's connector: the configuration behind an `Arc`, so a clone (one per
    /// connection) copies a pointer.
    connect: MakeRustlsConnect,
    /// What it trusts, for `Debug`.
    roots: Roots,
}

#[derive(Clone, Copy, Debug)]
enum Roots {
    Native(usize),
    Pem(usize),
    Custom,
}

impl PostgresTls {
    /// Trusts the system's certificate authorities (`/etc/ssl/certs` on Debian, as found by
    /// [`rustls-native-certs`](https://docs.rs/rustls-native-certs); `SSL_CERT_FILE` and
    /// `SSL_CERT_DIR` override it): for a managed PostgreSQL whose certificate a public CA
    /// signed.
    ///
    /// # Errors
    ///
    /// [`PostgresError::Tls`] when the store holds no usable certificate.
    ///
    /// ```no_run
    /// use mqsync::sync::{PostgresSchema, PostgresSink, PostgresTls};
    ///
    /// let sink = PostgresSink::connect_tls(
    ///     "postgres://app:secret@db.example.com/shop",
    ///     PostgresTls::native_roots()?,
    ///     PostgresSchema::builder("orders").build()?,
    ///     "orders-log",
    /// )?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn native_roots() -> Result<Self, PostgresError> {
        let found = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let why: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
            return Err(PostgresError::Tls {
                reason: format!(
                    "no usable certificate in the system's trust store{}",
                    if why.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", why.join("; "))
                    }
                ),
            });
        }
        Ok(PostgresTls {
            connect: MakeRustlsConnect::new(client_config(roots)?),
            roots: Roots::Native(added),
        })
    }

    /// Trusts only the certificate authorities in `pem` (one or more `-----BEGIN
    /// CERTIFICATE-----` blocks; anything else in the text is skipped): for a server whose
    /// certificate a private CA signed, as most self-hosted clusters are.
    ///
    /// # Errors
    ///
    /// [`PostgresError::Tls`] when `pem` holds no certificate, or one that does not parse.
    ///
    /// ```no_run
    /// use mqsync::sync::PostgresTls;
    ///
    /// let tls = PostgresTls::from_ca_pem(&std::fs::read("/etc/mqsync/db-ca.pem")?)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_ca_pem(pem: &[u8]) -> Result<Self, PostgresError> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| PostgresError::Tls {
                reason: format!("cannot read the CA certificates: {e}"),
            })?;
            roots.add(cert).map_err(|e| PostgresError::Tls {
                reason: format!("a CA certificate is not usable: {e}"),
            })?;
        }
        if roots.is_empty() {
            return Err(PostgresError::Tls {
                reason: "no certificate in the CA text (expected PEM: -----BEGIN CERTIFICATE-----)"
                    .to_owned(),
            });
        }
        let count = roots.len();
        Ok(PostgresTls {
            connect: MakeRustlsConnect::new(client_config(roots)?),
            roots: Roots::Pem(count),
        })
    }

    /// Uses `config` as it is: client certificates, other roots, protocol versions. Its
    /// verifier is the caller's responsibility.
    ///
    /// ```
    /// use mqsync::sync::PostgresTls;
    ///
    /// let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    /// let config = rustls::ClientConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_root_certificates(rustls::RootCertStore::empty())
    ///     .with_no_client_auth();
    /// let tls = PostgresTls::from_rustls(config);
    /// assert_eq!(format!("{tls:?}"), "PostgresTls { roots: \"caller's rustls configuration\" }");
    /// # Ok::<(), rustls::Error>(())
    /// ```
    pub fn from_rustls(config: ClientConfig) -> Self {
        PostgresTls {
            connect: MakeRustlsConnect::new(config),
            roots: Roots::Custom,
        }
    }

    /// The connector the client takes.
    pub(super) fn connector(&self) -> MakeRustlsConnect {
        self.connect.clone()
    }
}

impl fmt::Debug for PostgresTls {
    /// What it trusts (how many authorities, from where); never key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roots = match self.roots {
            Roots::Native(n) => format!("{n} from the system's trust store"),
            Roots::Pem(n) => format!("{n} from PEM"),
            Roots::Custom => "caller's rustls configuration".to_owned(),
        };
        f.debug_struct("PostgresTls")
            .field("roots", &roots)
            .finish()
    }
}

/// TLS 1.2 and 1.3 on `ring`, verifying against `roots`, no client certificate.
fn client_config(roots: RootCertStore) -> Result<ClientConfig, PostgresError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PostgresError::Tls {
            reason: format!("rustls refused its default protocol versions: {e}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

//! For the test fixtures (`testing` feature): a throwaway CA and a server certificate it
//! signed, made with the `openssl` command line tool, for the TLS test servers of Redis,
//! PostgreSQL and RabbitMQ.

use std::io;
use std::path::Path;
use std::process::{Command, Stdio};

/// Makes `ca.crt` (a throwaway CA, named after `dir` so that no two fixtures' CAs share a
/// name), and `server.crt` / `server.key` (EC P-256, for `127.0.0.1` and `localhost`, signed by
/// that CA, valid two days) in `dir`; removes the CA's key (nothing else may be signed by it)
/// and returns the CA certificate's PEM.
pub(crate) fn make_certificates(dir: &Path) -> io::Result<String> {
    let run = |args: &[&str]| -> io::Result<()> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot run openssl (`apt-get install -y openssl`): {e}"),
                )
            })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "openssl {} failed: {}",
                args.first().unwrap_or(&""),
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    // A name of its own: another fixture's CA must be unknown here, not a namesake (which
    // rustls reports as a bad signature rather than an unknown issuer).
    let subject = format!(
        "/CN=mqsync test CA {}",
        dir.file_name().unwrap_or_default().to_string_lossy()
    );
    let mut ca = vec![
        "req", "-x509", "-days", "2", "-keyout", "ca.key", "-out", "ca.crt",
    ];
    ca.extend(ec);
    ca.extend(["-subj", &subject]);
    ca.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
    ca.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    run(&ca)?;
    let mut request = vec!["req", "-keyout", "server.key", "-out", "server.csr"];
    request.extend(ec);
    request.extend(["-subj", "/CN=localhost"]);
    run(&request)?;
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\n\
         subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )?;
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.crt",
    ])?;
    std::fs::remove_file(dir.join("ca.key"))?;
    std::fs::read_to_string(dir.join("ca.crt"))
}

//! `cargo xtask`: mqsync's repository tasks, std only (the alias is in `.cargo/config.toml`).
//!
//! `cargo xtask test` is the README's test command and `.ci/run`'s test step: it prints the
//! toolchain, locates each server the tests need ([`services::SERVICES`]) on `PATH` (or where
//! its package puts it off `PATH`) or installs it with apt-get (as root, or through sudo), prints what it found or installed with its
//! version, and runs `cargo test --release --features full` (every feature), exiting with its
//! status. A server it cannot get is reported with what to do; the tests still run and fail
//! with their own message, or skip loudly under the service's skip variable.

mod cli;
mod services;

use cli::Command as Cli;
use services::{Host, Plan, Service, SERVICES};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

fn main() -> ExitCode {
    match cli::parse(std::env::args().skip(1)) {
        Cli::Help => {
            println!("{}", cli::usage());
            ExitCode::SUCCESS
        }
        Cli::Usage { error } => {
            eprintln!("xtask: {error}\n\n{}", cli::usage());
            ExitCode::from(2)
        }
        Cli::Test { cargo_args } => test(&cargo_args),
    }
}

/// `cargo xtask test`: provision every service, then run the suite.
fn test(cargo_args: &[String]) -> ExitCode {
    let cargo = cargo();
    say(&format!(
        "toolchain: {}; {}",
        version_of(Path::new("rustc"), &["--version"]).unwrap_or_else(|e| format!("rustc: {e}")),
        version_of(Path::new(&cargo), &["--version"]).unwrap_or_else(|e| format!("cargo: {e}")),
    ));
    let host = host();
    for service in SERVICES {
        provision(service, host);
    }

    let mut args: Vec<String> = vec![
        "test".into(),
        "--release".into(),
        "--features".into(),
        services::FEATURES.into(),
    ];
    args.extend(cargo_args.iter().cloned());
    say(&format!("running: cargo {}", args.join(" ")));
    // Inherited stdout and stderr: the output streams as it comes.
    match Command::new(&cargo)
        .args(&args)
        .current_dir(workspace_root())
        .status()
    {
        Ok(status) if status.success() => {
            say("tests passed");
            ExitCode::SUCCESS
        }
        Ok(status) => {
            say(&format!("tests failed ({status})"));
            // A status without a code (killed by a signal) is a failure too.
            ExitCode::from(status.code().map_or(1, |c| c.clamp(1, 255) as u8))
        }
        Err(e) => {
            say(&format!("could not run {}: {e}", cargo.to_string_lossy()));
            ExitCode::FAILURE
        }
    }
}

/// Locates or installs one service and says what it found, installed or could not get.
fn provision(service: &Service, host: Host) {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = services::locate(service.binary, &path, service.also_in);
    let env = |name: &str| std::env::var(name).ok();
    let name = service.name;
    match services::plan(service, found, env, host) {
        Plan::UseUrl { var, url } => {
            say(&format!("{name}: using the server at {var}={url}"));
        }
        Plan::Found(at) => report(service, "found", &at),
        Plan::Skip => say(&format!(
            "{name}: {} is not on PATH and {}=1: nothing installed, the {name} tests (feature \
             {}) will be SKIPPED (loudly)",
            service.binary, service.skip_var, service.feature
        )),
        Plan::Install { sudo } => {
            say(&format!(
                "{name}: {} is not on PATH; installing the {} package with apt-get{}",
                service.binary,
                service.package,
                if sudo { " through sudo" } else { "" }
            ));
            match install(service, sudo) {
                Ok(()) => match services::locate(service.binary, &path, service.also_in) {
                    Some(at) => report(service, "installed", &at),
                    None => say(&format!(
                        "{name}: the {} package installed, but {} is still not on PATH\n{}",
                        service.package,
                        service.binary,
                        services::advice(service)
                    )),
                },
                Err(e) => say(&format!(
                    "{name}: the install failed: {e}\n{}",
                    services::advice(service)
                )),
            }
        }
        Plan::Advise => say(&format!(
            "{name}: cannot install {} here (that needs apt-get, and root or sudo)\n{}",
            service.package,
            services::advice(service)
        )),
    }
}

/// Prints "Redis: found /usr/bin/redis-server: Redis server v=7.0.15 ...".
fn report(service: &Service, how: &str, at: &Path) {
    if service.version_args.is_empty() {
        // No version flag (rabbitmq-server would boot a node): say where it is, no more.
        say(&format!("{}: {how} {}", service.name, at.display()));
        return;
    }
    let version = version_of(at, service.version_args).unwrap_or_else(|e| format!("({e})"));
    say(&format!(
        "{}: {how} {}: {version}",
        service.name,
        at.display()
    ));
}

/// Runs the install commands, then disables the system service the package started, best
/// effort. Their output (dpkg's progress, even under -qq) is shown only when one fails; sudo
/// may still ask for a password on the terminal.
fn install(service: &Service, sudo: bool) -> Result<(), String> {
    for argv in services::install_commands(service, sudo) {
        say(&format!("  {}", argv.join(" ")));
        let out = Command::new(&argv[0])
            .args(&argv[1..])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::inherit())
            .output()
            .map_err(|e| format!("{}: {e}", argv.join(" ")))?;
        if !out.status.success() {
            return Err(format!(
                "`{}` exited with {}:\n{}{}",
                argv.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    if let Some(argv) = services::disable_command(service, sudo) {
        // No systemd (most containers): nothing was started, nothing to stop.
        let _ = Command::new(&argv[0])
            .args(&argv[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    Ok(())
}

/// What this machine offers for installs.
fn host() -> Host {
    let path = std::env::var_os("PATH").unwrap_or_default();
    Host {
        root: is_root(),
        sudo: services::locate("sudo", &path, &[]).is_some(),
        apt: services::locate("apt-get", &path, &[]).is_some(),
    }
}

/// Whether we run as uid 0 (`id -u`; std has no getuid).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.status.success() && out.stdout.trim_ascii() == b"0")
}

/// The first line of `program args` (stdout, else stderr), for version reports.
fn version_of(program: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    let text = String::from_utf8_lossy(&text);
    Ok(text.lines().next().unwrap_or("").trim().to_string())
}

/// The cargo that runs us (cargo sets `CARGO` for `cargo run`), else `cargo` on PATH.
fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// The repository root: the directory above this crate.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Our own output, every line marked apart from cargo's.
fn say(text: &str) {
    for line in text.lines() {
        println!("xtask: {line}");
    }
}

//! Where the `gateway-api` and `vendor-sim` binaries are: next to this test executable, in the
//! same target directory and profile. Another package's tests get no `CARGO_BIN_EXE_*`, so when
//! a binary is missing or older than the workspace's sources they are built once per run, and
//! `cargo test -p e2e` alone works.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

const PACKAGES: [&str; 2] = ["gateway-api", "vendor-sim"];

pub fn gateway() -> PathBuf {
    bin_dir().join(exe("gateway-api"))
}

pub fn simulator() -> PathBuf {
    bin_dir().join(exe("vendor-sim"))
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// The profile directory (`target/debug`), with the binaries in it up to date.
fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = profile_dir();
        if binaries_stale(&dir) {
            build(&dir);
        }
        dir
    })
}

/// `target/<profile>/deps/e2e-<hash>` → `target/<profile>`; that also honours `CARGO_TARGET_DIR`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test executable lives in <target>/<profile>/deps")
        .to_path_buf()
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace root")
        .to_path_buf()
}

fn binaries_stale(dir: &Path) -> bool {
    let newest_source = newest_source_change();
    PACKAGES.iter().any(|name| {
        std::fs::metadata(dir.join(exe(name)))
            .and_then(|m| m.modified())
            .map_or(true, |built| built < newest_source)
    })
}

/// The latest change to anything the binaries are built from: the crates and the lock file.
fn newest_source_change() -> SystemTime {
    let root = workspace_root();
    let mut newest = modified(&root.join("Cargo.lock"));
    let mut pending = vec![root.join("crates")];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                // A crate's own tests and benches are not part of its binary.
                let name = entry.file_name();
                if !matches!(name.to_str(), Some("tests" | "benches" | "target")) {
                    pending.push(path);
                }
            } else {
                newest = newest.max(modified(&path));
            }
        }
    }
    newest
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn build(dir: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .args(["build", "--bins"])
        .args(PACKAGES.iter().flat_map(|p| ["-p", p]));
    match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            command.arg("--release");
        }
        Some(profile) => {
            command.args(["--profile", profile]);
        }
    }
    let status = command
        .status()
        .expect("cargo runs to build the gateway and the simulator");
    assert!(
        status.success(),
        "building the gateway and simulator binaries failed ({status})"
    );
}

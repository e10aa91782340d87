//! Records the source revision for `--version` and the `build_info` metric.
//!
//! `BUILD_REVISION` wins (the image build passes it, as the build context has no `.git`);
//! otherwise the checkout's git commit; otherwise `unknown`, so a build from a source tarball
//! without git still works.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=BUILD_REVISION");
    println!("cargo:rerun-if-changed=build.rs");
    let revision = std::env::var("BUILD_REVISION")
        .ok()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .or_else(git_revision)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=WA_GATEWAY_REVISION={revision}");
}

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn git_revision() -> Option<String> {
    let revision = git(&["rev-parse", "--short=12", "HEAD"])?;
    // Rebuild when the checkout moves to another commit: HEAD, the branch it points at, and
    // packed refs.
    for path in ["HEAD", "packed-refs"] {
        watch(git(&["rev-parse", "--git-path", path]));
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch(git(&["rev-parse", "--git-path", &branch]));
    }
    Some(revision)
}

/// A missing file would make cargo rerun this script on every build: only existing ones.
fn watch(file: Option<String>) {
    if let Some(file) = file.filter(|f| std::path::Path::new(f).exists()) {
        println!("cargo:rerun-if-changed={file}");
    }
}

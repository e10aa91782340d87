#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    gateway_api::cli::main()
}

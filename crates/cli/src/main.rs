//! `skill`: the support platform's command line.

fn main() {
    std::process::exit(support_cli::cmd::main_entry());
}

//! `skill`: the support platform's command line.

fn main() {
    std::process::exit(support_cli::cli::main_entry());
}

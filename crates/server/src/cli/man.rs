//! `ipintel man`: the manual page, one page for every subcommand.

use super::{env_help, Cli};

/// The manual page: one page for the command and every subcommand (each with its options,
/// under COMMANDS; no `ipintel-serve(1)` pages are shipped to point at), and the settings
/// table as preformatted text so `man` does not reflow its columns.
pub fn man_page() -> std::io::Result<Vec<u8>> {
    use clap::CommandFactory;
    let command = Cli::command();
    let man = clap_mangen::Man::new(command.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    page.extend_from_slice(b".SH COMMANDS\n");
    for sub in command.get_subcommands() {
        man_subcommand(&mut page, sub, "ipintel")?;
    }
    page.extend_from_slice(b".SH CONFIGURATION\n.nf\n");
    page.extend_from_slice(roff_text(&env_help()).as_bytes());
    page.extend_from_slice(b".fi\n");
    man.render_version_section(&mut page)?;
    Ok(page)
}

/// One subcommand as a subsection (its synopsis, description and options), then its own
/// subcommands likewise.
fn man_subcommand(page: &mut Vec<u8>, sub: &clap::Command, parent: &str) -> std::io::Result<()> {
    if sub.get_name() == "help" {
        return Ok(());
    }
    let name = format!("{parent} {}", sub.get_name());
    page.extend_from_slice(format!(".SS \"{}\"\n", roff_text(&name).trim_end()).as_bytes());
    let sub_man = clap_mangen::Man::new(sub.clone().bin_name(&name));
    let mut part = Vec::new();
    sub_man.render_synopsis_section(&mut part)?;
    sub_man.render_description_section(&mut part)?;
    if sub.get_arguments().any(|a| !a.is_hide_set()) {
        sub_man.render_options_section(&mut part)?;
    }
    // Sections of a subcommand become paragraphs of its subsection.
    let part = String::from_utf8_lossy(&part)
        .lines()
        .map(|l| if l.starts_with(".SH") { ".PP" } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    page.extend_from_slice(part.as_bytes());
    page.push(b'\n');
    for nested in sub.get_subcommands() {
        man_subcommand(page, nested, &name)?;
    }
    Ok(())
}

/// Text as roff shows it literally: backslashes and hyphens escaped, no line taken for a
/// request.
fn roff_text(text: &str) -> String {
    text.lines()
        .map(|line| {
            let line = line.replace('\\', "\\e").replace('-', "\\-");
            if line.starts_with('.') || line.starts_with('\'') {
                format!("\\&{line}")
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

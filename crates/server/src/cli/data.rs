//! `ipintel data`: build MMDB files from open data and describe one.

use std::io::Write;

use ipintel_core::geo::{build, GeoDb};

use super::DataCommand;
use super::EXIT_OK;
use crate::render::rfc3339;

pub fn data(command: DataCommand) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    match command {
        DataCommand::BuildAsn { out: path, inputs } => {
            let report = build::build_asn(&inputs, &path)?;
            report_build(&mut out, &path, &report)?;
        }
        DataCommand::Build {
            database_type,
            out: path,
            source,
        } => {
            let report = build::build_from_json(&source, &database_type, &path)?;
            report_build(&mut out, &path, &report)?;
        }
        DataCommand::Info { files } => {
            for file in files {
                let db = GeoDb::open(&file, true)?;
                writeln!(
                    out,
                    "{}: kind {} (database_type {}), built {}",
                    file.display(),
                    db.kind,
                    db.database_type,
                    rfc3339(db.build_epoch as i64)
                )?;
            }
        }
    }
    Ok(EXIT_OK)
}

fn report_build(
    out: &mut impl Write,
    path: &std::path::Path,
    report: &build::BuildReport,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "wrote {} ({} networks, {} skipped)",
        path.display(),
        report.n_written,
        report.n_skipped
    )?;
    for example in &report.examples_skipped {
        writeln!(out, "  skipped: {example}")?;
    }
    Ok(())
}

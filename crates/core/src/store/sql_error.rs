//! How sqlx's errors become `StoreError`s, for both backends: "not now" (the database is
//! unreachable, busy, full or restarting: 503, the same call can succeed later, nothing was
//! stored) against "never" (a constraint, a bug: 500).

use super::StoreError;

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::Database(ref db) if cannot_write_now(db.code().as_deref()) => {
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => {
                StoreError::Unavailable(e.to_string())
            }
            other => StoreError::Db(other.to_string()),
        }
    }
}

/// Whether a database error code says "not now" rather than "never".
///
/// SQLite gives numeric result codes: the disk or the file system is full (`SQLITE_FULL`),
/// an I/O call failed (`SQLITE_IOERR`, e.g. ENOSPC while growing the WAL), another writer
/// holds the lock past the busy timeout (`SQLITE_BUSY`, `SQLITE_LOCKED`), or the file
/// cannot be written (`SQLITE_READONLY`, `SQLITE_CANTOPEN`).
///
/// PostgreSQL gives five-character SQLSTATEs: connection failures (class 08), too many
/// connections or a full disk (class 53), the server shutting down or restarting (57P01-3),
/// a serialization failure or deadlock (40001, 40P01: the transaction was rolled back and
/// can run again), a read-only replica (25006).
fn cannot_write_now(code: Option<&str>) -> bool {
    let Some(code) = code else {
        return false;
    };
    // SQLSTATEs are five characters; SQLite's extended codes are at most four digits.
    if let (true, Ok(sqlite)) = (code.len() < 5, code.parse::<i64>()) {
        const BUSY: i64 = 5;
        const LOCKED: i64 = 6;
        const READONLY: i64 = 8;
        const IOERR: i64 = 10;
        const FULL: i64 = 13;
        const CANTOPEN: i64 = 14;
        // sqlx gives SQLite's extended code as text; its low byte is the primary code.
        return matches!(
            sqlite & 0xff,
            BUSY | LOCKED | READONLY | IOERR | FULL | CANTOPEN
        );
    }
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "40001" | "40P01" | "25006"
        )
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_of_both_backends_are_told_apart() {
        use super::cannot_write_now as now;
        assert!(
            now(Some("5")) && now(Some("13")) && now(Some("778")),
            "SQLite busy, full, IOERR_WRITE"
        );
        assert!(!now(Some("19")) && !now(Some("2067")), "SQLite constraints");
        assert!(
            now(Some("08006")) && now(Some("53100")) && now(Some("57P01")) && now(Some("40001"))
        );
        assert!(
            !now(Some("23505")) && !now(Some("42P01")),
            "PostgreSQL unique violation, no table"
        );
        assert!(!now(None));
    }
}

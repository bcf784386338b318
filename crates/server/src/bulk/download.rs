//! A bulk request's results as a streamed body: the stored parts are read one at a time as
//! the client takes them, so memory holds one chunk whatever the request's size. The bulk
//! API's downloads and the console's both answer with it.

use axum::body::Body;
use ipintel_core::engine::BulkReader;
use ipintel_core::store::{BulkPart, BulkStatus};

use super::writers::{Format, Part, Writer};

/// The body of a download of `part` of the request `status` describes, in `format`.
pub fn body(reader: BulkReader, status: &BulkStatus, format: Format, part: Part) -> Body {
    let download = Download {
        reader,
        id: status.id,
        part,
        writer: Writer::new(format, part),
        step: Step::Begin,
        chunks: status.chunks,
    };
    let stream = futures_util::stream::unfold(download, |mut d| async move {
        let piece = d.next_piece().await?;
        Some((piece, d))
    });
    Body::from_stream(stream)
}

/// A download in progress: the parts are read from the store one at a time as the client
/// takes them, so memory holds one chunk whatever the request's size.
struct Download {
    reader: BulkReader,
    id: u64,
    part: Part,
    writer: Writer,
    step: Step,
    /// Chunks recorded when the download started.
    chunks: u32,
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Begin,
    Invalid,
    Chunk(u32),
    End,
    Done,
}

impl Download {
    async fn next_piece(&mut self) -> Option<Result<Vec<u8>, std::io::Error>> {
        loop {
            let read = match self.step {
                Step::Begin => {
                    self.step = match self.part {
                        Part::Failed => Step::Invalid,
                        Part::Completed => Step::Chunk(0),
                    };
                    return Some(Ok(self.writer.begin()));
                }
                Step::Invalid => {
                    self.step = Step::Chunk(0);
                    self.reader.invalid().await.map(Some)
                }
                Step::Chunk(k) if k < self.chunks => {
                    self.step = Step::Chunk(k + 1);
                    let part = match self.part {
                        Part::Completed => BulkPart::Completed,
                        Part::Failed => BulkPart::Failed,
                    };
                    self.reader.chunk(k, part).await
                }
                Step::Chunk(_) => {
                    self.step = Step::End;
                    continue;
                }
                Step::End => {
                    self.step = Step::Done;
                    return Some(Ok(self.writer.end()));
                }
                Step::Done => return None,
            };
            match read {
                Ok(Some(text)) => {
                    let bytes = self.writer.lines(&text);
                    if !bytes.is_empty() {
                        return Some(Ok(bytes));
                    }
                }
                // Swept while being read: the answer ends where the data does.
                Ok(None) => {}
                Err(e) => {
                    // The status line is gone; cutting the connection is the only signal left.
                    tracing::error!(request = self.id, error = %e, "bulk download failed midway");
                    self.step = Step::Done;
                    return Some(Err(std::io::Error::other(e.to_string())));
                }
            }
        }
    }
}

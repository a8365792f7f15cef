//! Pod logs as O-Neko shows them: bounded reads, over-long lines cut and marked. Shared by the
//! dashboard's "last lines" (`deploy`) and the live stream (`live`).

/// Longest log line sent, in bytes; a longer one is cut there and marked with [`CUT_MARK`].
pub const MAX_LINE: usize = 16 << 10;
/// Ends a log line that was cut.
pub const CUT_MARK: &str = " [… line cut: longer than 16 KiB]";
/// Most of a log read at once ("show the last lines").
pub const MAX_LOG_READ: usize = 8 << 20;

/// A log's lines, each cut to [`MAX_LINE`] bytes (on a character boundary) and marked.
pub fn cut_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_LOG_READ));
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if line.len() > MAX_LINE {
            let mut end = MAX_LINE;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            out.push_str(&line[..end]);
            out.push_str(CUT_MARK);
        } else {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_lines_are_cut_too() {
        let long = "y".repeat(MAX_LINE + 10);
        let text = format!("short\n{long}\nend");
        let cut = cut_lines(&text);
        let lines: Vec<&str> = cut.split('\n').collect();
        assert_eq!(lines[0], "short");
        assert_eq!(lines[1], format!("{}{CUT_MARK}", "y".repeat(MAX_LINE)));
        assert_eq!(lines[2], "end");
    }
}

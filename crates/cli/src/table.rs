//! Aligned text tables for the commands that print them (`voices`, `doctor`).

use std::io::{self, Write};

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Padded on the right.
    Left,
    /// Padded on the left (numbers).
    Right,
}

/// Writes `header` and `rows` as columns two spaces apart; the last column is
/// never padded, so long text (a result, a list) does not leave trailing spaces.
pub fn write<const N: usize>(
    out: &mut impl Write,
    header: [&str; N],
    align: [Align; N],
    rows: &[[String; N]],
) -> io::Result<()> {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let header = header.map(String::from);
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = widths[i] - cell.chars().count();
            if i + 1 == N {
                line.push_str(cell);
            } else if align[i] == Align::Right {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_the_last_is_not_padded() {
        let mut out = Vec::new();
        let rows = [
            ["a".to_string(), "5".to_string(), "x".to_string()],
            ["bbb".to_string(), "123".to_string(), "longer".to_string()],
        ];
        write(
            &mut out,
            ["K", "N", "V"],
            [Align::Left, Align::Right, Align::Left],
            &rows,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "K      N  V\na      5  x\nbbb  123  longer\n"
        );
    }
}

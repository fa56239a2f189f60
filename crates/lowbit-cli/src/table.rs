//! Aligned plain-text tables. Column widths are fitted before printing, so rows can be
//! printed as they are produced (`lowbit bench` fits its columns from the plan).

/// How a column's cells are aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// Column headers, alignments and widths.
#[derive(Debug, Clone)]
pub struct Table {
    cols: Vec<(String, Align, usize)>,
}

/// Spaces between columns.
const GAP: &str = "  ";

impl Table {
    /// A table with these columns, each as wide as its header.
    pub fn new<S: AsRef<str>>(cols: &[(S, Align)]) -> Self {
        Table {
            cols: cols
                .iter()
                .map(|(h, a)| (h.as_ref().to_string(), *a, h.as_ref().chars().count()))
                .collect(),
        }
    }

    /// Widens column `col` to at least `width` characters.
    pub fn widen(&mut self, col: usize, width: usize) {
        let w = &mut self.cols[col].2;
        *w = (*w).max(width);
    }

    /// Widens every column to fit a row of cells.
    pub fn fit<S: AsRef<str>>(&mut self, cells: &[S]) {
        for (i, c) in cells.iter().enumerate() {
            self.widen(i, c.as_ref().chars().count());
        }
    }

    /// The header line.
    pub fn header(&self) -> String {
        let heads: Vec<&str> = self.cols.iter().map(|c| c.0.as_str()).collect();
        self.row(&heads)
    }

    /// One row, cells padded to the column widths (no trailing spaces).
    pub fn row<S: AsRef<str>>(&self, cells: &[S]) -> String {
        let mut line = String::new();
        for (i, (cell, &(_, align, width))) in cells.iter().zip(&self.cols).enumerate() {
            if i > 0 {
                line.push_str(GAP);
            }
            let cell = cell.as_ref();
            let pad = " ".repeat(width.saturating_sub(cell.chars().count()));
            match align {
                Align::Left => {
                    line.push_str(cell);
                    line.push_str(&pad);
                }
                Align::Right => {
                    line.push_str(&pad);
                    line.push_str(cell);
                }
            }
        }
        line.truncate(line.trim_end().len());
        line
    }

    /// The header and separator lines of a GitHub-flavoured Markdown table (numbers
    /// right-aligned).
    pub fn markdown_header(&self) -> String {
        let heads: Vec<&str> = self.cols.iter().map(|c| c.0.as_str()).collect();
        let rule: Vec<&str> = self
            .cols
            .iter()
            .map(|c| match c.1 {
                Align::Left => "---",
                Align::Right => "---:",
            })
            .collect();
        format!("{}\n|{}|", self.markdown_row(&heads), rule.join("|"))
    }

    /// One Markdown table row (`|` in cells escaped).
    pub fn markdown_row<S: AsRef<str>>(&self, cells: &[S]) -> String {
        let cells: Vec<String> = cells
            .iter()
            .map(|c| c.as_ref().replace('|', "\\|"))
            .collect();
        format!("| {} |", cells.join(" | "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_left_and_right() {
        let mut t = Table::new(&[("name", Align::Left), ("x", Align::Right)]);
        t.fit(&["abcdef", "1.5"]);
        t.widen(1, 5);
        assert_eq!(t.header(), "name        x");
        assert_eq!(t.row(&["ab", "10.25"]), "ab      10.25");
        assert_eq!(t.row(&["abcdef", "1"]), "abcdef      1");
        assert_eq!(t.markdown_header(), "| name | x |\n|---|---:|");
        assert_eq!(t.markdown_row(&["a|b", "2"]), "| a\\|b | 2 |");
    }
}
